import { assert } from '../assert.js';
import { LIMITS } from '../limits.js';
import type { NodeId } from '../messages.js';
import { compareIds, countLoads, joinInPlace, leaveInPlace } from './claim.js';

export { preferenceList } from './preference-list.js';

/**
 * The ring (DESIGN §3): Q equal-sized partitions of the 64-bit hash space,
 * each claimed by one physical node. An immutable value: every change makes
 * a new ring with a higher version, which is what gossip compares.
 */
export interface Ring {
  /** Q, a power of two, fixed at cluster creation. */
  readonly partitions: number;
  /** N, the replication factor. */
  readonly replicas: number;
  /** owners[p] = the node that claims partition p. */
  readonly owners: readonly NodeId[];
  /** Bumped by every claim change. */
  readonly version: number;
  /**
   * Ownership handoffs still under way (riak_core's `next` list, Cassandra's
   * pending ranges): replicas of `partition` that `from` still holds and is
   * streaming to `to`, a primary under `owners` that was not one before.
   * Absent or empty: the ring is settled. See src/core/transfer/README.md.
   */
  readonly pending?: readonly PendingTransfer[];
}

/** One partition replica moving from an old primary to a new one. */
export interface PendingTransfer {
  readonly partition: number;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** Where a partition's replicas live: N primaries, then every other member as a fallback. */
export interface Preflist {
  partition: number;
  primaries: NodeId[];
  fallbacks: NodeId[];
  /** Old primaries still handing the partition off (ring.pending): extra write and read targets, never counted in a quorum. */
  pending?: NodeId[];
}

/**
 * Deterministic from the member set: ids are sorted and the ring is built by
 * successive joins from the first one, so every node computes the same ring
 * and adding the largest id is a single minimal join. version = 1.
 */
export function createRing(members: readonly NodeId[], partitions: number, replicas: number): Ring {
  assertShape(partitions, replicas);
  assert(members.length >= 1, 'ring: no members');
  assert(members.length <= partitions, 'ring: more members than partitions');
  const ids = [...members].sort(compareIds);
  ids.forEach((id, i) => {
    assertNodeId(id);
    assert(i === 0 || id !== ids[i - 1], `ring: duplicate member ${id}`);
  });
  const owners = new Array<NodeId>(partitions).fill(ids[0]!);
  const loads = countLoads(owners);
  for (let i = 1; i < ids.length; i++) joinInPlace(owners, ids[i]!, replicas, loads);
  return freezeRing(partitions, replicas, owners, 1);
}

/** New ring with `node` added, taking ⌊Q/(S+1)⌋ partitions from the most-loaded nodes. */
export function claimJoin(ring: Ring, node: NodeId): Ring {
  assertNodeId(node);
  const owners = ring.owners.slice();
  joinInPlace(owners, node, ring.replicas);
  return freezeRing(ring.partitions, ring.replicas, owners, ring.version + 1);
}

/** New ring with `node` removed: only its partitions move, to the least-loaded nodes. */
export function claimLeave(ring: Ring, node: NodeId): Ring {
  const owners = ring.owners.slice();
  leaveInPlace(owners, node, ring.replicas);
  return freezeRing(ring.partitions, ring.replicas, owners, ring.version + 1);
}

/** Shift amounts per log2(Q), made once: BigInt constants are allocations. */
const SHIFTS = Array.from({ length: 32 }, (_, bits) => BigInt(64 - bits));
const HASH_LIMIT = 1n << 64n;

/** Partition of a 64-bit key hash: its top log2(Q) bits (equal-sized partitions, Dynamo strategy 3). */
export function partitionOfHash(hash: bigint, partitions: number): number {
  assert(hash >= 0n && hash < HASH_LIMIT, 'ring: hash is not a 64-bit unsigned integer');
  assert(isPowerOfTwo(partitions) && partitions <= LIMITS.partitionsMax, 'ring: partitions must be a power of two');
  return Number(hash >> SHIFTS[31 - Math.clz32(partitions)]!);
}

/** Distinct owners, sorted. */
export function members(ring: Ring): NodeId[] {
  return [...new Set(ring.owners)].sort(compareIds);
}

/** Identity of a transfer in sets, digests and messages. */
export function transferKey(t: PendingTransfer): string {
  return `${t.partition}:${t.from}>${t.to}`;
}

/** Whether the ring still gives `node` a part: partitions it owns, or transfers to or from it. */
export function involves(ring: Ring, node: NodeId): boolean {
  return ring.owners.includes(node) || (ring.pending ?? []).some((t) => t.from === node || t.to === node);
}

export function partitionsOwnedBy(ring: Ring, node: NodeId): number[] {
  const owned: number[] = [];
  ring.owners.forEach((owner, p) => {
    if (owner === node) owned.push(p);
  });
  return owned;
}

/**
 * Checks a ring from outside (gossip, peer port) and returns a frozen copy.
 * It checks shape only, not balance: a valid but unbalanced ring is still a
 * ring every node can route with.
 */
export function validateRing(input: unknown): Ring {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('ring: not an object');
  const { partitions, replicas, owners, version } = input as Record<string, unknown>;
  if (!Number.isInteger(partitions) || !isPowerOfTwo(partitions as number)) throw new Error('ring: partitions must be a power of two');
  const q = partitions as number;
  if (q < LIMITS.partitionsMin || q > LIMITS.partitionsMax) throw new Error(`ring: partitions must be in ${LIMITS.partitionsMin}..${LIMITS.partitionsMax}`);
  if (!Number.isInteger(replicas) || (replicas as number) < 1 || (replicas as number) > LIMITS.replicasMax) {
    throw new Error(`ring: replicas must be an integer in 1..${LIMITS.replicasMax}`);
  }
  if (!Number.isSafeInteger(version) || (version as number) < 0) throw new Error('ring: version must be a non-negative integer');
  if (!Array.isArray(owners) || owners.length !== q) throw new Error('ring: owners must have one entry per partition');
  const copy = new Array<NodeId>(q);
  for (let p = 0; p < q; p++) {
    const owner: unknown = owners[p];
    if (!isNodeId(owner)) throw new Error(`ring: owner of partition ${p} is not a node id`);
    copy[p] = owner;
  }
  const pending = validatePending((input as Record<string, unknown>).pending, q);
  return freezeRing(q, replicas as number, copy, version as number, pending);
}

/** `ring` with its pending transfers replaced, at `version`. */
export function withPending(ring: Ring, pending: readonly PendingTransfer[], version: number): Ring {
  return freezeRing(ring.partitions, ring.replicas, ring.owners.slice(), version, pending);
}

/** Transfers per partition accepted from outside: N replicas, each moving at most once. */
const PENDING_PER_PARTITION_MAX = LIMITS.replicasMax;

function validatePending(input: unknown, partitions: number): PendingTransfer[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input) || input.length > partitions * PENDING_PER_PARTITION_MAX) throw new Error('ring: pending must be a bounded list');
  return input.map((t: unknown) => {
    if (typeof t !== 'object' || t === null) throw new Error('ring: pending transfer is not an object');
    const { partition, from, to } = t as Record<string, unknown>;
    if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) >= partitions) throw new Error('ring: pending partition out of range');
    if (!isNodeId(from) || !isNodeId(to) || from === to) throw new Error('ring: pending transfer needs two distinct node ids');
    return { partition: partition as number, from, to };
  });
}

function freezeRing(partitions: number, replicas: number, owners: NodeId[], version: number, pending: readonly PendingTransfer[] = []): Ring {
  const ring: Ring = { partitions, replicas, owners: Object.freeze(owners), version };
  if (pending.length === 0) return Object.freeze(ring);
  return Object.freeze({ ...ring, pending: Object.freeze(pending.map((t) => Object.freeze({ partition: t.partition, from: t.from, to: t.to }))) });
}

function assertShape(partitions: number, replicas: number): void {
  assert(
    Number.isInteger(partitions) && isPowerOfTwo(partitions) && partitions >= LIMITS.partitionsMin && partitions <= LIMITS.partitionsMax,
    `ring: partitions must be a power of two in ${LIMITS.partitionsMin}..${LIMITS.partitionsMax}`,
  );
  assert(Number.isInteger(replicas) && replicas >= 1 && replicas <= LIMITS.replicasMax, `ring: replicas must be in 1..${LIMITS.replicasMax}`);
}

function assertNodeId(id: unknown): void {
  assert(isNodeId(id), 'ring: bad node id');
}

/** Node ids are bounded like the actor ids they are part of. */
function isNodeId(id: unknown): id is NodeId {
  return typeof id === 'string' && id.length > 0 && id.length <= LIMITS.actorBytesMax;
}

function isPowerOfTwo(x: number): boolean {
  return x >= 1 && (x & (x - 1)) === 0;
}
