import type { NodeId } from '../messages.js';
import type { Preflist, Ring } from '../ring/ring.js';

/**
 * Where a stray write must go besides this node's store.
 *
 * A replica write is stray when it reaches a node that does not hold the
 * key's partition under its own ring: a coordinator or hint holder with an
 * older ring sent it, or a handoff source got it after its last verified
 * transfer pass. Kept only here, it would be dropped with the partition, or
 * never read again; and with `w = 1` it can be the write's only acknowledged
 * copy. So it also goes to the holders, as hints (durable, retried, and
 * redirected again if their receiver's ring moved on too): this is riak_core's
 * vnode forwarding, done through the hint queue instead of on the request path.
 *
 * Returns [] when this node is a primary of the partition (not stray); the
 * transfer targets when it is still handing the partition off (one hint each:
 * the new primary gets what the transfer may have missed); else every primary.
 */
export function strayTargets(self: NodeId, partition: number, preflist: Preflist, ring: Ring): NodeId[] {
  if (preflist.primaries.includes(self)) return [];
  const targets: NodeId[] = [];
  if (preflist.pending?.includes(self) === true) {
    for (const t of ring.pending ?? []) {
      if (t.partition === partition && t.from === self && t.to !== self && !targets.includes(t.to)) targets.push(t.to);
    }
    if (targets.length > 0) return targets;
  }
  for (const id of preflist.primaries) if (id !== self) targets.push(id);
  return targets;
}

/** Whether `self` holds the partition of `preflist`: one of its primaries, or still handing it off. */
export function holdsPartition(self: NodeId, preflist: Preflist): boolean {
  return preflist.primaries.includes(self) || preflist.pending?.includes(self) === true;
}
