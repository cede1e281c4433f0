import type { MemberInfo, NodeId } from '../messages.js';
import { compareIds } from '../ring/claim.js';
import type { Ring } from '../ring/ring.js';

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
 * The hook where the claimant will change the ring: claimJoin for each
 * joining member, claimLeave for each leaving one (src/core/ring/ring.ts),
 * once partitions can be handed off (ownership transfer is a later issue).
 * Until then it proposes nothing: a joining node coordinates requests but
 * owns no partitions. A ring returned here is adopted with version + 1 and
 * gossiped like any other.
 */
export function nextRing(_ring: Ring, _pending: PendingClaims): Ring | undefined {
  return undefined;
}
