import { assert } from '../assert.js';
import { LIMITS } from '../limits.js';
import type { NodeId } from '../messages.js';
import type { Preflist, Ring } from './ring.js';

/**
 * Per-ring lookup tables and scratch space, built on the first preference
 * list of a ring and dropped with it, so a call allocates only its result.
 * Scratch reuse is safe: preferenceList is synchronous and never re-entered.
 */
interface Walker {
  /** Members by index. */
  readonly ids: readonly NodeId[];
  /** partition → index of its owner in `ids`. */
  readonly ownerIndex: Uint32Array;
  /** member index → stamp of the last call that met it (no clearing per call). */
  readonly seenAt: Uint32Array;
  /** Members in walk order, for the current call. */
  readonly order: Uint32Array;
  /** Walk positions chosen as primaries by the zone pass; cleared after use. */
  readonly picked: Uint8Array;
  stamp: number;
}

const walkers = new WeakMap<Ring, Walker>();
/** Zones of the primaries chosen so far in the current call (at most N). */
const chosenZones: Array<string | undefined> = new Array<string | undefined>(LIMITS.replicasMax).fill(undefined);

/**
 * Walks partitions p, p+1, … (wrapping) collecting distinct owners: the first
 * N are primaries, every other member is a fallback, in walk order. With
 * `zones` (node → zone), the primaries are chosen to span as many zones as
 * possible: first the first node of each zone not yet chosen, then by walk
 * order; they are still listed in walk order. A node missing from `zones`
 * counts as a zone of its own.
 */
export function preferenceList(ring: Ring, partition: number, zones?: ReadonlyMap<NodeId, string>): Preflist {
  assert(Number.isInteger(partition) && partition >= 0 && partition < ring.partitions, 'preflist: partition out of range');
  const walker = walkerOf(ring);
  walk(walker, partition);
  const primaryCount = Math.min(ring.replicas, walker.ids.length);
  if (zones === undefined || zones.size === 0) return splitAt(walker, partition, primaryCount);
  pickAcrossZones(walker, zones, primaryCount);
  return splitPicked(walker, partition);
}

function walkerOf(ring: Ring): Walker {
  let walker = walkers.get(ring);
  if (walker === undefined) {
    walker = buildWalker(ring.owners);
    walkers.set(ring, walker);
  }
  return walker;
}

function buildWalker(owners: readonly NodeId[]): Walker {
  const index = new Map<NodeId, number>();
  const ownerIndex = new Uint32Array(owners.length);
  owners.forEach((owner, p) => {
    let i = index.get(owner);
    if (i === undefined) {
      i = index.size;
      index.set(owner, i);
    }
    ownerIndex[p] = i;
  });
  const size = index.size;
  return {
    ids: [...index.keys()],
    ownerIndex,
    seenAt: new Uint32Array(size),
    order: new Uint32Array(size),
    picked: new Uint8Array(size),
    stamp: 0,
  };
}

/** Fills `walker.order` with every member, in the order the walk from `start` meets them. */
function walk(walker: Walker, start: number): void {
  const stamp = nextStamp(walker);
  const { ownerIndex, seenAt, order } = walker;
  const q = ownerIndex.length;
  const members = order.length;
  let found = 0;
  for (let i = 0, p = start; i < q && found < members; i++, p = p + 1 === q ? 0 : p + 1) {
    const m = ownerIndex[p]!;
    if (seenAt[m] !== stamp) {
      seenAt[m] = stamp;
      order[found++] = m;
    }
  }
}

function nextStamp(walker: Walker): number {
  if (walker.stamp === 0xffffffff) {
    walker.seenAt.fill(0);
    walker.stamp = 0;
  }
  return ++walker.stamp;
}

function splitAt(walker: Walker, partition: number, primaryCount: number): Preflist {
  const { ids, order } = walker;
  const primaries: NodeId[] = [];
  const fallbacks: NodeId[] = [];
  for (let j = 0; j < order.length; j++) (j < primaryCount ? primaries : fallbacks).push(ids[order[j]!]!);
  return { partition, primaries, fallbacks };
}

/** Marks in `walker.picked` the walk positions of the zone-spreading primaries. */
function pickAcrossZones(walker: Walker, zones: ReadonlyMap<NodeId, string>, primaryCount: number): void {
  const { ids, order, picked } = walker;
  let chosen = 0;
  for (let j = 0; j < order.length && chosen < primaryCount; j++) {
    const zone = zones.get(ids[order[j]!]!);
    if (zone !== undefined && zoneChosen(zone, chosen)) continue;
    picked[j] = 1;
    chosenZones[chosen++] = zone;
  }
  for (let j = 0; j < order.length && chosen < primaryCount; j++) {
    if (picked[j] === 0) {
      picked[j] = 1;
      chosen++;
    }
  }
}

function zoneChosen(zone: string, chosen: number): boolean {
  for (let i = 0; i < chosen; i++) if (chosenZones[i] === zone) return true;
  return false;
}

function splitPicked(walker: Walker, partition: number): Preflist {
  const { ids, order, picked } = walker;
  const primaries: NodeId[] = [];
  const fallbacks: NodeId[] = [];
  for (let j = 0; j < order.length; j++) {
    (picked[j] === 1 ? primaries : fallbacks).push(ids[order[j]!]!);
    picked[j] = 0;
  }
  return { partition, primaries, fallbacks };
}
