import type { MemberInfo, NodeId } from '../messages.js';
import { compareIds } from '../ring/claim.js';
import { claimJoin, claimLeave, members, withPending, type Ring } from '../ring/ring.js';
import { transferKey, transfersBetween } from '../transfer/plan.js';

/**
 * The claimant (riak_core_claimant): the one member that makes ring
 * changes, so concurrent joins and leaves never produce two rival rings in
 * a healthy cluster. It is the lowest-id ring owner that is alive, a
 * function of the gossiped state, so every node agrees on it once gossip
 * has converged, without an election.
 */
export function claimantOf(ring: Ring, statusOf: (id: NodeId) => MemberInfo['status'] | undefined): NodeId | undefined {
  const owners = [...new Set(ring.owners)].sort(compareIds);
  return owners.find((id) => statusOf(id) === 'alive');
}

/** Ring changes waiting for the claimant: live members outside the ring, owners that are leaving. */
export interface PendingClaims {
  joining: NodeId[];
  leaving: NodeId[];
}

export function pendingClaims(ring: Ring, members: readonly MemberInfo[]): PendingClaims {
  const owners = new Set(ring.owners);
  return {
    joining: members.filter((m) => m.status === 'joining' && !owners.has(m.id)).map((m) => m.id),
    leaving: members.filter((m) => m.status === 'leaving' && owners.has(m.id)).map((m) => m.id),
  };
}

/**
 * The claimant's next ring, or undefined when there is nothing to do. One
 * change at a time (riak_core: no new claim while a handoff is pending):
 *  - while transfers are pending, only clear those reported `completed`;
 *  - else claimJoin the lowest joining member, or else claimLeave the lowest
 *    leaving one, recording the replicas that move as pending transfers
 *    (transfer/plan.ts). A returned ring has version + 1 and is gossiped.
 */
export function nextRing(ring: Ring, pending: PendingClaims, completed: ReadonlySet<string> = new Set(), zones?: ReadonlyMap<NodeId, string>): Ring | undefined {
  if (ring.pending !== undefined && ring.pending.length > 0) {
    const remaining = ring.pending.filter((t) => !completed.has(transferKey(t)));
    return remaining.length === ring.pending.length ? undefined : withPending(ring, remaining, ring.version + 1);
  }
  const joining = [...pending.joining].sort(compareIds)[0];
  if (joining !== undefined && members(ring).length < ring.partitions) return planned(ring, claimJoin(ring, joining), zones);
  const leaving = [...pending.leaving].sort(compareIds)[0];
  // The last owner cannot leave: there is nobody to hand its partitions to.
  if (leaving !== undefined && members(ring).length > 1) return planned(ring, claimLeave(ring, leaving), zones);
  return undefined;
}

function planned(previous: Ring, next: Ring, zones: ReadonlyMap<NodeId, string> | undefined): Ring {
  return withPending(next, transfersBetween(previous, next, zones), next.version);
}
