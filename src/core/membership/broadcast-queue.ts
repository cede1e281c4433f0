import { assert } from '../assert.js';
import type { MemberUpdate, NodeId } from '../messages.js';

/**
 * Piggyback queue of gossip updates (memberlist TransmitLimitedQueue).
 *
 * Each update rides on at most `retransmitLimit` outgoing messages, then is
 * dropped: infection-style dissemination reaches everyone in O(log N)
 * protocol periods with high probability, at a constant cost per message.
 * Updates sent fewer times go first, and among those the newest first. A
 * newer update about a member replaces the queued one (only the latest fact
 * about a member is worth spreading), so the queue holds at most one update
 * per member.
 */

/** Transmissions per update: mult · ceil(log10(N + 1)) (memberlist `retransmitLimit`). */
export function retransmitLimit(retransmitMult: number, members: number): number {
  assert(retransmitMult >= 1 && members >= 0, 'broadcast: bad parameters');
  return retransmitMult * Math.ceil(Math.log10(members + 1));
}

/** Rough encoded size of an update, for the per-message byte budget (msgpack: strings plus a small fixed overhead). */
export function updateBytes(update: MemberUpdate): number {
  return 40 + update.id.length + update.api.length + update.peer.length + (update.zone?.length ?? 0) + update.from.length + update.status.length;
}

interface Queued {
  readonly update: MemberUpdate;
  readonly seq: number;
  readonly bytes: number;
  transmits: number;
}

export class BroadcastQueue {
  private readonly byMember = new Map<NodeId, Queued>();
  private seq = 0;

  constructor(
    /** Bound on queued updates (one per member, so: the member bound). */
    private readonly queuedMax: number,
  ) {
    assert(queuedMax >= 1, 'broadcast: queuedMax must be ≥ 1');
  }

  get size(): number {
    return this.byMember.size;
  }

  /** Queues `update`, replacing any queued update about the same member. */
  enqueue(update: MemberUpdate): void {
    this.byMember.delete(update.id);
    if (this.byMember.size >= this.queuedMax) this.dropOldest();
    this.byMember.set(update.id, { update, seq: this.seq++, bytes: updateBytes(update), transmits: 0 });
    assert(this.byMember.size <= this.queuedMax, 'broadcast: queue over its bound');
  }

  /**
   * Updates for one outgoing message: least-transmitted first, newest first
   * among equals, within `countMax` updates and `bytesMax` estimated bytes.
   * Each taken update counts one transmission and leaves the queue after
   * `limit` of them.
   */
  take(limit: number, countMax: number, bytesMax: number): MemberUpdate[] {
    assert(limit >= 1 && countMax >= 0 && bytesMax >= 0, 'broadcast: bad take bounds');
    if (this.byMember.size === 0 || countMax === 0) return [];
    const ordered = [...this.byMember.values()].sort((a, b) => a.transmits - b.transmits || b.seq - a.seq);
    const taken: MemberUpdate[] = [];
    let bytes = 0;
    for (const queued of ordered) {
      if (taken.length >= countMax) break;
      if (bytes + queued.bytes > bytesMax) continue;
      bytes += queued.bytes;
      taken.push(queued.update);
      queued.transmits++;
      if (queued.transmits >= limit) this.byMember.delete(queued.update.id);
    }
    assert(taken.length <= countMax, 'broadcast: took more than asked');
    return taken;
  }

  /** The queued update about `id`, if any (tests, status). */
  peek(id: NodeId): { update: MemberUpdate; transmits: number } | undefined {
    const queued = this.byMember.get(id);
    return queued === undefined ? undefined : { update: queued.update, transmits: queued.transmits };
  }

  private dropOldest(): void {
    let oldest: Queued | undefined;
    for (const queued of this.byMember.values()) if (oldest === undefined || queued.seq < oldest.seq) oldest = queued;
    if (oldest !== undefined) this.byMember.delete(oldest.update.id);
  }
}
