import type { MemberInfo } from '../core/messages.js';
import type { VersionedObject, VersionVector } from '../core/version/types.js';

/** Read options, already resolved to integers and validated against N by the API layer. */
export interface GetOptions {
  r: number;
  pr: number;
  timeoutMs: number;
  /** `?repair=sync`: answer only after read repair has been acknowledged. */
  repairSync: boolean;
}

export interface PutOptions {
  w: number;
  pw: number;
  timeoutMs: number;
}

export interface DeleteOptions {
  w: number;
  pw: number;
  r: number;
  pr: number;
  timeoutMs: number;
}

export interface PutRequest {
  value: Uint8Array;
  contentType: string;
  /** The client's causal context; empty when none was sent. */
  context: VersionVector;
}

export interface RingView {
  partitions: number;
  replicas: number;
  owners: string[];
  version: number;
}

export interface PreflistView {
  partition: number;
  primaries: string[];
  fallbacks: string[];
}

export interface StatusReport {
  id: string;
  uptime: number;
  members: MemberInfo[];
  hints: { pending: number; byTarget: Record<string, number> };
  /** `lastExchange`: epoch ms from the core, rendered as an ISO time by the API. */
  antiEntropy: { lastExchange: string | number | null; keysRepaired: number; bytesSent: number };
  storage: { keys: number; bytes: number };
  transfers: { active: number; pending: number };
  [extra: string]: unknown;
}

/**
 * What the public API needs from a node. Errors are thrown as DynakvError
 * with a documented code; anything else is a bug and becomes 500 internal.
 */
export interface KvService {
  readonly id: string;
  /** N, the replication factor, for validating r/w/pr/pw. */
  readonly replicas: number;
  /** Byte cap on values (`--max-value-bytes`). */
  readonly valueBytesMax: number;
  /** The merged object read at `r`, or undefined when no replica answered with one. */
  get(key: string, options: GetOptions): Promise<VersionedObject | undefined>;
  /** Coordinates the write; returns the coordinator's resulting object (its vector is the new context). */
  put(key: string, request: PutRequest, options: PutOptions): Promise<VersionedObject>;
  /** Writes a tombstone with `context`, or with the context read at `r` when undefined. */
  delete(key: string, context: VersionVector | undefined, options: DeleteOptions): Promise<VersionedObject>;
  /** This node's own copy, no quorum. */
  localGet(key: string): VersionedObject | undefined;
  members(): MemberInfo[];
  ring(): RingView;
  /** The version of the ring this node serves with (cheap; sent on every reply). */
  ringVersion?(): number;
  preflist(key: string): PreflistView;
  status(): StatusReport;
  /** True once the node can serve requests. */
  ready(): boolean;
  /** Start decommissioning this node (`POST /v1/admin/leave`); absent: not supported (404). */
  leave?(): { id: string; status: string };
  /** Force-remove a dead member (`POST /v1/admin/remove/{id}`); throws not_found / invalid_parameter. */
  remove?(id: string): { id: string; status: string };
}
