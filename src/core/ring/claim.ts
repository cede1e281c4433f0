import { assert } from '../assert.js';
import type { NodeId } from '../messages.js';

/**
 * Claim algorithms: which node owns which partition after a join or a leave.
 *
 * They work in place on a mutable copy of the owners array and are pure
 * functions of it (plus the joining/leaving node and N), so every node that
 * applies the same change to the same ring gets the same result.
 *
 * Goals, in priority order:
 * 1. balance: every member ends with ⌊Q/S⌋ or ⌈Q/S⌉ partitions;
 * 2. minimal movement: on a balanced ring only the joiner receives and only
 *    the leaver gives;
 * 3. spread: avoid a node owning two partitions less than N apart ("a
 *    violation"), so a preference list is mostly the owners of the next N
 *    partitions, and repair existing violations when the moves allow it.
 */

type Counts = Map<NodeId, number>;

export function countLoads(owners: readonly NodeId[]): Counts {
  const loads: Counts = new Map();
  for (const owner of owners) loads.set(owner, (loads.get(owner) ?? 0) + 1);
  return loads;
}

/**
 * Balanced targets for `ids`: everyone gets ⌊Q/S⌋ and the Q mod S currently
 * most-loaded get one more (ties by id), which is the assignment closest to
 * the current loads, hence the one needing the fewest moves.
 */
export function balancedTargets(loads: Counts, ids: readonly NodeId[], q: number): Counts {
  const base = Math.floor(q / ids.length);
  const extra = q % ids.length;
  const byLoad = [...ids].sort((a, b) => (loads.get(b) ?? 0) - (loads.get(a) ?? 0) || compareIds(a, b));
  const targets: Counts = new Map();
  byLoad.forEach((id, rank) => targets.set(id, base + (rank < extra ? 1 : 0)));
  return targets;
}

/**
 * Adds `node` to the owners in place. `loads` (the partition count per
 * owner) is read and kept up to date, so successive joins need not recount.
 */
export function joinInPlace(owners: NodeId[], node: NodeId, n: number, loads: Counts = countLoads(owners)): void {
  assert(!loads.has(node), `claim: ${node} is already a member`);
  const ids = [...loads.keys(), node].sort(compareIds);
  assert(ids.length <= owners.length, 'claim: more members than partitions');
  const targets = balancedTargets(loads, ids, owners.length);
  // The joiner is served first: on a balanced ring it is the only receiver.
  const order = [node, ...ids.filter((id) => id !== node)];
  fillDeficits(owners, loads, targets, deficitsOf(loads, targets, order), n);
}

/** Removes `node` from the owners in place; its partitions go to the least-loaded members. */
export function leaveInPlace(owners: NodeId[], node: NodeId, n: number): void {
  const loads = countLoads(owners);
  assert(loads.has(node), `claim: ${node} is not a member`);
  assert(loads.size > 1, 'claim: the last member cannot leave');
  const ids = [...loads.keys()].filter((id) => id !== node).sort(compareIds);
  const targets = balancedTargets(loads, ids, owners.length);
  targets.set(node, 0);
  const deficits = deficitsOf(loads, targets, ids);
  distribute(owners, loads, node, deficits, n);
  // Only an unbalanced input ring gets here with deficits left.
  fillDeficits(owners, loads, targets, deficits, n);
}

/** Moves partitions from the nodes above their target to the receivers in `deficits`, in its order. */
function fillDeficits(owners: NodeId[], loads: Counts, targets: Counts, deficits: Counts, n: number): void {
  const surplus: Counts = new Map();
  for (const [id, target] of targets) {
    const over = (loads.get(id) ?? 0) - target;
    if (over > 0) surplus.set(id, over);
  }
  for (const [id, deficit] of deficits) {
    if (deficit > 0) takeSpread(owners, loads, id, deficit, surplus, n);
  }
}

/** Deficit per receiver, in the order of `ids` (the order they will be served). */
function deficitsOf(loads: Counts, targets: Counts, ids: readonly NodeId[]): Counts {
  const deficits: Counts = new Map();
  for (const id of ids) {
    const need = (targets.get(id) ?? 0) - (loads.get(id) ?? 0);
    if (need > 0) deficits.set(id, need);
  }
  return deficits;
}

/**
 * `receiver` takes `count` partitions from nodes with surplus, one per evenly
 * spaced slot around the ring (start rotated by the receiver's id so joiners
 * do not all start at partition 0). In each slot it takes the nearest partition
 * with the best score: no own partition within N−1, and preferably one that
 * repairs a violation of its current owner.
 */
function takeSpread(owners: NodeId[], loads: Counts, receiver: NodeId, count: number, surplus: Counts, n: number): void {
  const q = owners.length;
  const offset = idHash(receiver) % q;
  const half = Math.ceil(q / count / 2);
  for (let slot = 0; slot < count; slot++) {
    const center = (offset + Math.floor((slot * q) / count)) % q;
    const p = bestToTake(owners, center, half, receiver, surplus, n);
    assert(p >= 0, 'claim: no partition left to take');
    const from = owners[p]!;
    surplus.set(from, surplus.get(from)! - 1);
    move(owners, loads, p, receiver);
  }
}

/**
 * Scans outward from `center`; within `half` it keeps the best-scoring
 * candidate, beyond it (slot exhausted) it stops at the first candidate found.
 */
function bestToTake(owners: readonly NodeId[], center: number, half: number, receiver: NodeId, surplus: Counts, n: number): number {
  const q = owners.length;
  let best = -1;
  let bestScore = Infinity;
  for (let d = 0; d <= q >> 1; d++) {
    if (d > half && best >= 0) break;
    for (let side = 0; side < (d === 0 ? 1 : 2); side++) {
      const p = side === 0 ? (center + d) % q : (center - d + q) % q;
      const owner = owners[p]!;
      if (owner === receiver || (surplus.get(owner) ?? 0) <= 0) continue;
      const score = takeScore(owners, p, receiver, n);
      if (score === 0) return p;
      if (score < bestScore) {
        best = p;
        bestScore = score;
      }
    }
  }
  return best;
}

/** Lower is better: 2 per receiver partition within N−1, +1 unless it repairs a violation of the current owner. */
function takeScore(owners: readonly NodeId[], p: number, receiver: NodeId, n: number): number {
  const q = owners.length;
  const owner = owners[p]!;
  let near = 0;
  let repairs = false;
  for (let k = 1; k < n; k++) {
    const after = owners[(p + k) % q]!;
    const before = owners[(((p - k) % q) + q) % q]!;
    if (after === receiver) near++;
    if (before === receiver) near++;
    if (after === owner || before === owner) repairs = true;
  }
  return near * 2 + (repairs ? 0 : 1);
}

/**
 * Hands the leaver's partitions to the receivers with a deficit. Partitions
 * whose neighbourhood already holds many distinct nodes have the fewest
 * violation-free choices, so they are placed first; each goes to the receiver
 * least present within N−1 of it, then the one with the largest deficit.
 */
function distribute(owners: NodeId[], loads: Counts, leaver: NodeId, deficits: Counts, n: number): void {
  const moving: number[] = [];
  owners.forEach((owner, p) => {
    if (owner === leaver) moving.push(p);
  });
  const crowd = new Map(moving.map((p) => [p, distinctNear(owners, p, n)]));
  moving.sort((a, b) => crowd.get(b)! - crowd.get(a)! || a - b);
  for (const p of moving) {
    const to = bestReceiver(owners, p, deficits, n);
    deficits.set(to, deficits.get(to)! - 1);
    move(owners, loads, p, to);
  }
}

function move(owners: NodeId[], loads: Counts, p: number, to: NodeId): void {
  const from = owners[p]!;
  const left = loads.get(from)! - 1;
  if (left === 0) loads.delete(from);
  else loads.set(from, left);
  loads.set(to, (loads.get(to) ?? 0) + 1);
  owners[p] = to;
}

function bestReceiver(owners: readonly NodeId[], p: number, deficits: Counts, n: number): NodeId {
  let best: NodeId | undefined;
  let bestNear = Infinity;
  let bestDeficit = 0;
  for (const [id, deficit] of deficits) {
    if (deficit <= 0) continue;
    const near = occurrencesNear(owners, p, id, n);
    const better = near < bestNear || (near === bestNear && (deficit > bestDeficit || (deficit === bestDeficit && compareIds(id, best!) < 0)));
    if (better) {
      best = id;
      bestNear = near;
      bestDeficit = deficit;
    }
  }
  assert(best !== undefined, 'claim: no receiver with a deficit');
  return best;
}

function occurrencesNear(owners: readonly NodeId[], p: number, id: NodeId, n: number): number {
  const q = owners.length;
  let count = 0;
  for (let k = 1; k < n; k++) {
    if (owners[(p + k) % q] === id) count++;
    if (owners[(((p - k) % q) + q) % q] === id) count++;
  }
  return count;
}

function distinctNear(owners: readonly NodeId[], p: number, n: number): number {
  const q = owners.length;
  const seen = new Set<NodeId>();
  for (let k = 1; k < n; k++) {
    seen.add(owners[(p + k) % q]!);
    seen.add(owners[(((p - k) % q) + q) % q]!);
  }
  return seen.size;
}

/** Code-unit order: the same on every node, whatever its locale. */
export function compareIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** FNV-1a of the id: a deterministic, well-mixed starting offset. */
function idHash(id: NodeId): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
