import type { WireObject } from './version/codec.js';

export type NodeId = string;

/** A member as gossiped and as shown by GET /v1/cluster/members. */
export interface MemberInfo {
  id: NodeId;
  /** Public API address, host:port. */
  api: string;
  /** Peer (internode) address, host:port. */
  peer: string;
  status: MemberStatus;
  incarnation: number;
  zone: string | undefined;
}

export type MemberStatus = 'joining' | 'alive' | 'suspect' | 'dead' | 'leaving' | 'left';

/** A client operation forwarded to a coordinator in the key's preference list. */
export type ForwardedOp =
  | { op: 'get'; key: string; r: number; pr: number; timeoutMs: number; repairSync: boolean }
  | {
      op: 'put';
      key: string;
      value: Uint8Array;
      contentType: string;
      context: Array<[string, number]>;
      w: number;
      pw: number;
      timeoutMs: number;
    }
  | {
      op: 'delete';
      key: string;
      context: Array<[string, number]> | null;
      w: number;
      pw: number;
      r: number;
      pr: number;
      timeoutMs: number;
    };

/** Internode requests (msgpack over the peer port). Every field is validated on receipt. */
export type PeerRequest =
  /** Store (merge) this object as a replica of `key`; with `hint`, hold it for that primary instead. */
  | { type: 'replicate'; partition: number; key: string; object: WireObject; hint?: NodeId }
  /** Return this replica's object for `key`; with `hints`, merged with hints held for it (a fallback read). */
  | { type: 'read'; partition: number; key: string; hints?: boolean }
  /** Drop this exact tombstone (every primary holds it and its grace period passed). */
  | { type: 'reap'; partition: number; key: string; object: WireObject }
  /** Coordinate a client operation (sent by a node outside the preference list). */
  | { type: 'coordinate'; request: ForwardedOp }
  /** Push-pull of the membership view. */
  | { type: 'members'; from: MemberInfo; members: MemberInfo[] };

export type PeerReply =
  | { type: 'ack' }
  | { type: 'object'; object: WireObject | null }
  | { type: 'coordinated'; object: WireObject | null }
  | { type: 'members'; members: MemberInfo[] }
  | { type: 'error'; code: string; message: string; details?: Record<string, unknown> };
