import { assert } from '../assert.js';
import type { NodeId } from '../messages.js';
import { preferenceList, type PendingTransfer, type Ring } from '../ring/ring.js';

/**
 * Which partition replicas a ring change moves (Cassandra's pending ranges):
 * for each partition, every node that is a primary under `next` but was not
 * under `previous` must receive the partition, from an old primary that is no
 * longer one (paired in walk order), or, when none dropped out (fewer members
 * than N before), from the partition's old owner. Pure and deterministic.
 *
 * With N > 1 a join moves more replicas than owners: the newcomer enters the
 * preference lists of the partitions before each one it claims.
 */
export function transfersBetween(previous: Ring, next: Ring, zones?: ReadonlyMap<NodeId, string>): PendingTransfer[] {
  assert(previous.partitions === next.partitions, 'transfer plan: rings of different sizes');
  const moves: PendingTransfer[] = [];
  for (let p = 0; p < next.partitions; p++) {
    const before = preferenceList(previous, p, zones).primaries;
    const after = preferenceList(next, p, zones).primaries;
    const gained = after.filter((id) => !before.includes(id));
    const lost = before.filter((id) => !after.includes(id));
    gained.forEach((to, i) => {
      const from = lost[i] ?? previous.owners[p]!;
      assert(from !== to, 'transfer plan: a node cannot hand off to itself');
      moves.push({ partition: p, from, to });
    });
  }
  return moves;
}

export { transferKey } from '../ring/ring.js';

/** Partitions whose owner (ring.owners) differs between two rings: the "partitions moved" of DESIGN §3. */
export function ownersMoved(previous: Ring, next: Ring): number {
  let moved = 0;
  for (let p = 0; p < next.partitions; p++) if (previous.owners[p] !== next.owners[p]) moved++;
  return moved;
}
