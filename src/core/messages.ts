import type { AaeReply, AaeRequest } from './antientropy/messages.js';
import type { TransferReply, TransferRequest } from './transfer/messages.js';
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

/**
 * One gossiped fact about a member (SWIM's alive / suspect / dead messages,
 * memberlist's `alive`, `suspect`, `dead`): the member's record as the sender
 * holds it. `from` is who vouches for it; Lifeguard counts distinct `from`s
 * of `suspect` updates as independent confirmations.
 */
export interface MemberUpdate extends MemberInfo {
  from: NodeId;
}

/** A ring's identity in gossip. A peer whose stamp is ahead of ours is asked for its ring. */
export interface RingStamp {
  /** 0: no ring yet. */
  version: number;
  /** Hash of the ring's shape and owners ('' with no ring): tells apart two rings of one version. */
  digest: string;
}

/** A ring on the wire (validated with validateRing on receipt). */
export interface WireRing {
  partitions: number;
  replicas: number;
  owners: NodeId[];
  version: number;
  /** Transfers under way (ring.ts `pending`); absent when the ring is settled. */
  pending?: Array<{ partition: number; from: NodeId; to: NodeId }>;
}

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
  /** Merkle anti-entropy exchange (antientropy/messages.ts). */
  | AaeRequest
  /** Ownership handoff: partition batches and completion reports (transfer/messages.ts). */
  | TransferRequest
  /** Store (merge) this object as a replica of `key`; with `hint`, hold it for that primary instead. */
  | { type: 'replicate'; partition: number; key: string; /** codec.ts packObject bytes, validated on receipt. */ object: Uint8Array; hint?: NodeId }
  /** Return this replica's object for `key`; with `hints`, merged with hints held for it (a fallback read). */
  | { type: 'read'; partition: number; key: string; hints?: boolean }
  /** Drop this exact tombstone (every primary holds it and its grace period passed). */
  | { type: 'reap'; partition: number; key: string; object: WireObject }
  /** Coordinate a client operation (sent by a node outside the preference list). */
  | { type: 'coordinate'; request: ForwardedOp }
  /** SWIM probe of `target` (memberlist `ping`): the sender's own record and piggybacked gossip ride along. */
  | { type: 'ping'; from: MemberInfo; target: NodeId; ring: RingStamp; gossip: MemberUpdate[] }
  /** Indirect probe: ping `target` for the sender and say whether it answered within `timeoutMs`. */
  | { type: 'ping-req'; from: MemberInfo; target: NodeId; timeoutMs: number; ring: RingStamp; gossip: MemberUpdate[] }
  /** Full-state sync (memberlist push-pull): the sender's whole view; `join` while bootstrapping from a seed. */
  | { type: 'push-pull'; from: MemberInfo; join: boolean; members: MemberInfo[]; ring: RingStamp }
  /** Send me your ring (its stamp, seen in gossip, is ahead of mine). */
  | { type: 'ring-get' };

/**
 * Error code of a node that has left the cluster (or is about to) and took
 * no part in the request: nothing was applied, so the sender may go on to
 * another node.
 */
export const LEFT_CLUSTER_CODE = 'left';

/** Error code of a replica asked to read a partition it does not hold under its ring (the asker's ring differs). */
export const NOT_HOLDER_CODE = 'not_holder';

export type PeerReply =
  /** Merkle anti-entropy exchange (antientropy/messages.ts). */
  | AaeReply
  | TransferReply
  | { type: 'ack' }
  /** A replica's copy of a key as packed bytes (codec.ts packObject), validated by whoever decodes it. */
  | { type: 'object'; packed: Uint8Array | null }
  | { type: 'coordinated'; object: WireObject | null }
  /** Answer to `ping` (or to `ping-req`: the target answered). */
  | { type: 'ping-ack'; from: MemberInfo; ring: RingStamp; gossip: MemberUpdate[] }
  /** Answer to `ping-req` when the target did not answer in time (Lifeguard's nack). */
  | { type: 'ping-nack'; from: MemberInfo; ring: RingStamp; gossip: MemberUpdate[] }
  /** Answer to `push-pull`: the receiver's view, and its ring in full when it is ahead of the sender's stamp. */
  | { type: 'push-pull'; from: MemberInfo; members: MemberInfo[]; ring: RingStamp; fullRing: WireRing | null }
  | { type: 'ring'; ring: WireRing | null }
  | { type: 'error'; code: string; message: string; details?: Record<string, unknown> };
