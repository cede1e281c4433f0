import { assert } from '../assert.js';
import type { PeerReply, PeerRequest } from '../messages.js';
import type { Replica } from '../replica/replica.js';
import { fromWire, packObject } from '../version/codec.js';
import { EMPTY_OBJECT, isBehind, merge } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';
import { decodeHashes, differingIndices } from './hash-wire.js';
import type { PartitionTree } from './partition-tree.js';
import { AAE_PROTOCOL, expectHashes, expectKeys, expectObjects } from './protocol.js';
import type { TreeStore } from './tree-store.js';
import { BRANCHES, SEGMENTS_PER_BRANCH } from './tree-shape.js';

/**
 * One Merkle exchange: this node (the initiator) and one peer, one partition.
 * Descends only where hashes differ — branch hashes, then the segment hashes
 * of differing branches, then the (key, contribution) lists of differing
 * segments — fetches only the differing keys' objects, merges each with the
 * DVV sync rule, writes the merge locally where this node is behind (through
 * Replica.apply, so the tree follows) and sends it to the peer where the peer
 * is behind. Tombstones are objects like any other.
 *
 * A key absent on one side is copied from the other: absence is not a delete.
 * That is safe because tombstones are reaped only once every primary holds
 * them (the reaper's rule), so no primary can still hold the live value a
 * reaped tombstone superseded. A tombstone one primary already reaped may be
 * copied back to it by an exchange and is simply reaped again.
 */
export interface ExchangeDeps {
  readonly trees: TreeStore;
  readonly replica: Replica;
  readonly keysPerExchangeMax: number;
  readonly keysPerBatchMax: number;
  /** The partition of a key: keys a peer lists outside the partition or segment asked for are ignored. */
  partitionOf(key: string): number;
  /** One request to the peer (timeouts, byte accounting and the throttle are the caller's). */
  ask(message: PeerRequest): Promise<PeerReply>;
  /** Gives other work a turn between batches. */
  yieldTurn(): Promise<void>;
}

export interface ExchangeResult {
  status: 'in-sync' | 'repaired' | 'not-ready';
  branchesDiffering: number;
  segmentsDiffering: number;
  /** Keys whose contributions differed, at most keysPerExchangeMax. */
  keys: string[];
  /** Keys this node wrote (it was behind), and keys sent to the peer (it was behind). */
  repairedLocal: number;
  repairedRemote: number;
  /** More differences remain than one exchange repairs: run it again. */
  more: boolean;
}

interface DiffKey {
  readonly key: string;
  /** The peer listed the key (so its object is fetched). */
  readonly remote: boolean;
}

/** A level of a tree that holds nothing there (hash pairs). */
const ZEROS = new Int32Array(2 * Math.max(BRANCHES, SEGMENTS_PER_BRANCH));

export async function exchange(deps: ExchangeDeps, partition: number): Promise<ExchangeResult> {
  const result: ExchangeResult = { status: 'not-ready', branchesDiffering: 0, segmentsDiffering: 0, keys: [], repairedLocal: 0, repairedRemote: 0, more: false };
  if (!deps.trees.isBuilt(partition)) return result;
  const branches = await differingBranches(deps, partition);
  if (branches === null) return result;
  result.branchesDiffering = branches.length;
  if (branches.length === 0) return { ...result, status: 'in-sync' };
  const segments = await differingSegments(deps, partition, branches);
  if (segments === null) return result;
  result.segmentsDiffering = segments.length;
  const diff = await differingKeys(deps, partition, segments);
  if (diff === null) return result;
  result.keys = diff.keys.map((k) => k.key);
  result.more = diff.more;
  for (let i = 0; i < diff.keys.length; i += deps.keysPerBatchMax) {
    if (i > 0) await deps.yieldTurn();
    const repaired = await repairBatch(deps, partition, diff.keys.slice(i, i + deps.keysPerBatchMax));
    result.repairedLocal += repaired.local;
    result.repairedRemote += repaired.remote;
  }
  return { ...result, status: result.keys.length === 0 && !result.more ? 'in-sync' : 'repaired' };
}

/** Indices of the branches whose hashes differ; null when the peer's tree is not built. */
async function differingBranches(deps: ExchangeDeps, partition: number): Promise<number[] | null> {
  const remote = expectHashes(await deps.ask({ type: 'aae-hashes', partition, branches: null }), 1);
  if (remote === null) return null;
  return differingIndices(deps.trees.tree(partition)?.branchLevel() ?? ZEROS, remote);
}

async function differingSegments(deps: ExchangeDeps, partition: number, branches: readonly number[]): Promise<number[] | null> {
  const out: number[] = [];
  for (let i = 0; i < branches.length; i += AAE_PROTOCOL.branchesPerRequestMax) {
    const chunk = branches.slice(i, i + AAE_PROTOCOL.branchesPerRequestMax);
    const remote = expectHashes(await deps.ask({ type: 'aae-hashes', partition, branches: chunk }), chunk.length);
    if (remote === null) return null;
    const tree = deps.trees.tree(partition);
    chunk.forEach((branch, i) => {
      const theirs = remote.subarray(2 * i * SEGMENTS_PER_BRANCH, 2 * (i + 1) * SEGMENTS_PER_BRANCH);
      for (const slot of differingIndices(tree?.segmentLevel(branch) ?? ZEROS, theirs)) out.push(branch * SEGMENTS_PER_BRANCH + slot);
    });
  }
  return out;
}

/** The keys whose contributions differ in the given segments, up to keysPerExchangeMax. */
async function differingKeys(deps: ExchangeDeps, partition: number, segments: readonly number[]): Promise<{ keys: DiffKey[]; more: boolean } | null> {
  const keys: DiffKey[] = [];
  let next = 0;
  while (next < segments.length && keys.length < deps.keysPerExchangeMax) {
    const chunk = segments.slice(next, next + AAE_PROTOCOL.segmentsPerRequestMax);
    const reply = expectKeys(await deps.ask({ type: 'aae-keys', partition, segments: chunk }), chunk.length);
    if (!reply.ready) return null;
    const covered = chunk.slice(0, reply.covered);
    const hashes = decodeHashes(reply.hashes);
    const remote = groupBySegment(deps, partition, new Set(covered), reply.keys);
    const tree = deps.trees.tree(partition);
    for (const segment of covered) compareSegment(tree, segment, remote.get(segment), hashes, keys);
    next += reply.covered;
  }
  assert(next <= segments.length, 'exchange: covered more segments than asked');
  return { keys: keys.slice(0, deps.keysPerExchangeMax), more: next < segments.length || keys.length > deps.keysPerExchangeMax };
}

/** The peer's keys by segment, each with its index in the reply (its hash pair is at 2 × index). */
function groupBySegment(deps: ExchangeDeps, partition: number, covered: ReadonlySet<number>, keys: readonly string[]): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  keys.forEach((key, i) => {
    const segment = deps.trees.segmentOf(key);
    if (!covered.has(segment) || deps.partitionOf(key) !== partition) return; // not what we asked for: ignore
    let entries = out.get(segment);
    if (entries === undefined) out.set(segment, (entries = new Map()));
    entries.set(key, i);
  });
  return out;
}

function compareSegment(tree: PartitionTree | undefined, segment: number, remote: ReadonlyMap<string, number> | undefined, hashes: Int32Array, out: DiffKey[]): void {
  tree?.forEachIn(segment, (key, hi, lo) => {
    const theirs = remote?.get(key);
    if (theirs === undefined || hashes[2 * theirs] !== hi || hashes[2 * theirs + 1] !== lo) out.push({ key, remote: theirs !== undefined });
  });
  if (remote !== undefined) {
    for (const key of remote.keys()) if (tree?.has(segment, key) !== true) out.push({ key, remote: true });
  }
}

/** Fetches, merges and repairs one batch of differing keys, both ways. */
async function repairBatch(deps: ExchangeDeps, partition: number, batch: readonly DiffKey[]): Promise<{ local: number; remote: number }> {
  const theirs = await fetchObjects(deps, partition, batch.filter((k) => k.remote).map((k) => k.key));
  const writes: Array<Promise<unknown>> = [];
  let local = 0;
  let remote = 0;
  for (const { key } of batch) {
    const mine = deps.replica.read(partition, key);
    const other = theirs.get(key);
    const merged = merge(mine ?? EMPTY_OBJECT, other ?? EMPTY_OBJECT);
    if (other !== undefined && isBehind(mine, merged)) {
      writes.push(deps.replica.apply(partition, key, merged));
      local++;
    }
    if (isBehind(other, merged)) {
      writes.push(deps.ask({ type: 'replicate', partition, key, object: packObject(merged) }).then(expectAck));
      remote++;
    }
  }
  const settled = await Promise.allSettled(writes);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  return { local, remote };
}

/** The peer's objects of `keys` (absent ones missing from the map), paged by the reply bounds. */
async function fetchObjects(deps: ExchangeDeps, partition: number, keys: readonly string[]): Promise<Map<string, VersionedObject>> {
  const out = new Map<string, VersionedObject>();
  let next = 0;
  while (next < keys.length) {
    const page = keys.slice(next, next + AAE_PROTOCOL.fetchKeysMax);
    const reply = expectObjects(await deps.ask({ type: 'aae-fetch', partition, keys: page }), page.length);
    reply.objects.forEach((wire, i) => {
      if (wire !== null) out.set(page[i]!, fromWire(wire));
    });
    next += reply.objects.length;
  }
  return out;
}

function expectAck(reply: PeerReply): void {
  if (reply.type !== 'ack') throw new Error(`repair refused: ${reply.type === 'error' ? reply.code : reply.type}`);
}
