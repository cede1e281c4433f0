import type { MemberInfo, NodeId } from '../messages.js';
import { compareIds } from '../ring/claim.js';
import { claimJoin, claimLeave, involves, members, preferenceList, withPending, type PendingTransfer, type Ring } from '../ring/ring.js';
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
export function nextRing(
  ring: Ring,
  pending: PendingClaims,
  completed: ReadonlySet<string> = new Set(),
  zones?: ReadonlyMap<NodeId, string>,
  departed: ReadonlySet<NodeId> = new Set(),
): Ring | undefined {
  const gone = [...departed].filter((id) => involves(ring, id)).sort(compareIds)[0];
  if (gone !== undefined && members(ring).some((id) => id !== gone)) return withoutDeparted(ring, gone, zones);
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

/**
 * `gone` is `left` while this ring still involves it: it owns partitions, or
 * transfers to or from it are pending. Either an operator force-removed it
 * (dead for good, KvNode.remove), or it left on another ring than this one:
 * a joiner asked to leave before its claim reached it, or a leaver that saw
 * its last transfer cleared in the other fork of a ring made by two
 * claimants (a node declares `left` only once its own ring lists none of its
 * transfers, so those were verified). It will never act on this ring, and
 * waiting for it would block every later change. So its
 * partitions are claimed away at once, and each replica that moves is
 * streamed from whoever holds the data: the source of the transfer that was
 * to reach `gone`, else another old primary. Its transfers are dropped.
 */
function withoutDeparted(ring: Ring, gone: NodeId, zones: ReadonlyMap<NodeId, string> | undefined): Ring {
  const settled = withPending(ring, [], ring.version);
  const next = ring.owners.includes(gone) ? claimLeave(settled, gone) : withPending(settled, [], ring.version + 1);
  const moves = new Map<string, PendingTransfer>();
  for (const t of ring.pending ?? []) if (t.to !== gone && t.from !== gone) moves.set(transferKey(t), t);
  for (const t of transfersBetween(settled, next, zones)) {
    const from = t.from === gone ? holderOf(ring, t.partition, gone, t.to, zones) : t.from;
    if (from !== undefined && from !== t.to) moves.set(transferKey({ ...t, from }), { ...t, from });
  }
  return withPending(next, [...moves.values()], next.version);
}

/** Who holds partition `p`'s data in place of `gone`: the source of a transfer to it, else another primary. */
function holderOf(ring: Ring, p: number, gone: NodeId, to: NodeId, zones: ReadonlyMap<NodeId, string> | undefined): NodeId | undefined {
  const source = (ring.pending ?? []).find((t) => t.partition === p && t.to === gone)?.from;
  if (source !== undefined) return source;
  return preferenceList(ring, p, zones).primaries.find((id) => id !== gone && id !== to);
}

function planned(previous: Ring, next: Ring, zones: ReadonlyMap<NodeId, string> | undefined): Ring {
  return withPending(next, transfersBetween(previous, next, zones), next.version);
}
