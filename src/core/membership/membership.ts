import type { Clock, TimerId } from '../../ports/clock.js';
import type { Random } from '../../ports/random.js';
import type { Transport } from '../../ports/transport.js';
import { assert } from '../assert.js';
import type { MemberInfo, MemberStatus, MemberUpdate, NodeId, PeerReply, PeerRequest, RingStamp, WireRing } from '../messages.js';
import { parsePingReply, parsePushPullReply } from '../peer-protocol.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue, retransmitLimit, updateBytes } from './broadcast-queue.js';
import { pushPullIntervalMs, type MembershipConfig } from './config.js';
import { INCARNATION_MAX, isGone, isLive, judge, mustRefute, restored } from './member-state.js';
import { pickRandom, Probe, ProbeOrder, type ProbeOutcome, type RelayAnswer } from './probe.js';
import { expectedConfirmations, Suspicion, suspicionTimeoutMs } from './suspicion.js';

/**
 * Gossip membership: SWIM failure detection with Lifeguard's refinements,
 * as hashicorp/memberlist does it, on injected clock, randomness and
 * transport (so it runs the same over HTTP, in unit tests and in the
 * simulator).
 *
 *  - Every protocol period one member is probed (shuffled round-robin):
 *    ping, then ping-req through k others on a missed ack (probe.ts).
 *  - A failed probe makes the target `suspect`; it is declared `dead` when
 *    the Lifeguard suspicion timer runs out (suspicion.ts), unless it refutes
 *    by raising its incarnation, which only the member itself does.
 *  - Updates spread piggybacked on pings and acks, each a bounded number of
 *    times (broadcast-queue.ts); every message also carries its sender's own
 *    record, and an ack tells a sender we hold as suspect or dead so, which
 *    lets it refute at once.
 *  - Every ~15 s a full-state push-pull with a random member (dead ones
 *    included, so partitions heal); seeds are contacted only to bootstrap.
 *  - Ring stamps ride on every message; the ring itself is RingState's.
 */

/** What membership needs from the ring state (ring-state.ts). */
export interface RingGossip {
  stamp(): RingStamp;
  /** A peer advertised this stamp (fetch its ring if it is ahead). */
  heard(from: NodeId, stamp: RingStamp): void;
  /** Our ring in full for a peer with stamp `theirs`, when ours is ahead. */
  ringFor(theirs: RingStamp): WireRing | null;
  /** A full ring from a peer (untrusted). */
  received(input: unknown): boolean;
}

export type MembershipEvent =
  | { kind: 'joined' | 'alive' | 'suspect' | 'dead' | 'left'; id: NodeId; incarnation: number; from: NodeId }
  | { kind: 'refute'; id: NodeId; incarnation: number; from: NodeId };

export interface MembershipDeps {
  readonly self: MemberInfo;
  /** Peer addresses (host:port) of bootstrap seeds; this node's own address may be among them. */
  readonly seeds: readonly string[];
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly config: MembershipConfig;
  /** Ring stamps and fetches; without it, stamps say "no ring". */
  readonly ring?: RingGossip;
  /** Member records changed (persist them). */
  onChange(): void;
  /** Our incarnation went up at runtime (refutation, status change): persist it, so the next start goes higher still. */
  onIncarnation?(incarnation: number): void;
  /** Every seed has answered: the ids of the seed members (the initial ring's members). Called once. */
  onSeedsContacted?(seedIds: NodeId[]): void;
  /** Observations, for tests and traces. */
  onEvent?(event: MembershipEvent): void;
}

/** Target name that addresses a seed by its peer address before its id is known. */
export function seedTarget(peerAddress: string): NodeId {
  return `@${peerAddress}`;
}

/** Members that are picked from by rejection sampling rather than by filtering the whole list. */
const SAMPLE_BY_REJECTION_ABOVE = 64;
/** Random draws per wanted member when sampling by rejection (a few ineligible members never stall a probe). */
const SAMPLE_DRAWS_PER_PICK = 8;
/** A ping-req relay waits this fraction of the time it was given, so its nack reaches the prober in time. */
const RELAY_TIMEOUT_FRACTION = 0.8;
const NO_RING: RingStamp = { version: 0, digest: '' };

export interface MembershipCounters {
  probes: number;
  probesAcked: number;
  probesIndirectAcked: number;
  probesFailed: number;
  probesInconclusive: number;
  pingReqsRelayed: number;
  /** Members this node marked suspect (its own verdicts and gossiped ones). */
  suspectEvents: number;
  deadEvents: number;
  aliveEvents: number;
  refutations: number;
  confirmations: number;
  pushPulls: number;
  pushPullsFailed: number;
  gossipSent: number;
}

export class Membership {
  private readonly table = new Map<NodeId, MemberInfo>();
  /** Every member id but ours, in insertion order (members are never removed; dead ones are kept). */
  private readonly others: NodeId[] = [];
  private readonly suspicions = new Map<NodeId, Suspicion>();
  private readonly broadcasts: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly order: ProbeOrder;
  private readonly seedsPending = new Set<string>();
  private readonly seedIds = new Set<NodeId>();
  private seedsReported = false;
  private probe: Probe | undefined;
  private probeTimer: TimerId | undefined;
  private pushPullTimer: TimerId | undefined;
  private bootstrapTimer: TimerId | undefined;
  private started = false;
  private stopped = false;
  readonly counters: MembershipCounters = {
    probes: 0,
    probesAcked: 0,
    probesIndirectAcked: 0,
    probesFailed: 0,
    probesInconclusive: 0,
    pingReqsRelayed: 0,
    suspectEvents: 0,
    deadEvents: 0,
    aliveEvents: 0,
    refutations: 0,
    confirmations: 0,
    pushPulls: 0,
    pushPullsFailed: 0,
    gossipSent: 0,
  };

  constructor(
    private readonly deps: MembershipDeps,
    known: readonly MemberInfo[] = [],
  ) {
    assert(isLive(deps.self.status), 'membership: a node starts live (joining or alive)');
    this.broadcasts = new BroadcastQueue(deps.config.membersMax);
    this.awareness = new Awareness(deps.config.awarenessMax);
    this.order = new ProbeOrder(deps.random);
    this.table.set(deps.self.id, deps.self);
    for (const member of known) {
      if (member.id === deps.self.id || this.table.has(member.id) || this.table.size >= deps.config.membersMax) continue;
      this.insert(restored(member));
    }
  }

  // ---- lifecycle -------------------------------------------------------------

  start(): void {
    assert(!this.started, 'membership: started twice');
    this.started = true;
    const self = this.self();
    for (const seed of this.deps.seeds) if (seed !== self.peer) this.seedsPending.add(seed);
    this.broadcasts.enqueue(this.selfUpdate());
    this.reportSeedsIfAllAnswered();
    this.bootstrapRound();
    const { probeIntervalMs } = this.deps.config;
    this.probeTimer = this.deps.clock.setTimer(this.deps.random.int(probeIntervalMs), () => this.probeTick());
    this.schedulePushPull(this.deps.random.int(pushPullIntervalMs(this.deps.config, this.table.size)));
  }

  stop(): void {
    this.stopped = true;
    for (const timer of [this.probeTimer, this.pushPullTimer, this.bootstrapTimer]) if (timer !== undefined) this.deps.clock.clearTimer(timer);
    this.probe?.cancel();
    for (const suspicion of this.suspicions.values()) suspicion.cancel();
    this.suspicions.clear();
  }

  // ---- the view ----------------------------------------------------------------

  self(): MemberInfo {
    return this.table.get(this.deps.self.id)!;
  }

  get(id: NodeId): MemberInfo | undefined {
    return this.table.get(id);
  }

  /** Every member, self included, dead and left ones too, sorted by id. */
  members(): MemberInfo[] {
    return [...this.table.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get size(): number {
    return this.table.size;
  }

  /** Every seed answered at least once (or there were none but ourselves). */
  seedsContacted(): boolean {
    return this.started && this.seedsPending.size === 0;
  }

  pendingSeeds(): string[] {
    return [...this.seedsPending];
  }

  get awarenessScore(): number {
    return this.awareness.score;
  }

  get broadcastsQueued(): number {
    return this.broadcasts.size;
  }

  /** The addresses this node announces (known only once its listeners are bound; call before start). */
  updateSelf(api: string, peer: string): void {
    const self = this.self();
    this.table.set(self.id, { ...self, api, peer });
  }

  /** Our own lifecycle status (joining → alive once in the ring; leaving, left). A change raises our incarnation. */
  setSelfStatus(status: Extract<MemberStatus, 'joining' | 'alive' | 'leaving' | 'left'>): void {
    const self = this.self();
    if (self.status === status) return;
    this.table.set(self.id, { ...self, status, incarnation: self.incarnation + 1 });
    this.broadcasts.enqueue(this.selfUpdate());
    this.deps.onIncarnation?.(self.incarnation + 1);
    this.deps.onChange();
  }

  /**
   * An operator's force-remove (riak-admin cluster force-remove, nodetool
   * removenode): a member that is dead is declared `left` on its behalf, at
   * its incarnation, and gossiped like its own `left` would be. Should it come
   * back, it refutes with a higher incarnation and joins as a new member.
   * Returns false unless the member is known and dead.
   */
  removeDead(id: NodeId): boolean {
    const member = this.table.get(id);
    if (member === undefined || member.status !== 'dead' || id === this.deps.self.id) return false;
    const applied = this.apply({ ...member, status: 'left', from: this.deps.self.id });
    if (applied) this.deps.onChange();
    return applied;
  }

  // ---- incoming messages (KvNode.handlePeer dispatches here) ---------------------

  handlePing(message: Extract<PeerRequest, { type: 'ping' }>): PeerReply {
    if (message.target !== this.deps.self.id) {
      return { type: 'error', code: 'wrong_target', message: `this is ${this.deps.self.id}, not ${message.target}` };
    }
    this.absorb(message.from, message.gossip, message.ring);
    return { type: 'ping-ack', from: this.self(), ring: this.ringStamp(), gossip: this.gossipFor(message.from.id) };
  }

  async handlePingReq(message: Extract<PeerRequest, { type: 'ping-req' }>): Promise<PeerReply> {
    this.absorb(message.from, message.gossip, message.ring);
    this.counters.pingReqsRelayed++;
    const timeoutMs = Math.max(1, Math.min(this.deps.config.probeTimeoutMs, Math.floor(message.timeoutMs * RELAY_TIMEOUT_FRACTION)));
    const acked = message.target === this.deps.self.id || (this.table.has(message.target) && (await this.ping(message.target, timeoutMs)));
    const gossip = this.gossipFor(message.from.id);
    return { type: acked ? 'ping-ack' : 'ping-nack', from: this.self(), ring: this.ringStamp(), gossip };
  }

  handlePushPull(message: Extract<PeerRequest, { type: 'push-pull' }>): PeerReply {
    this.mergeState(message.from, message.members);
    this.deps.ring?.heard(message.from.id, message.ring);
    const fullRing = this.deps.ring?.ringFor(message.ring) ?? null;
    return { type: 'push-pull', from: this.self(), members: this.members(), ring: this.ringStamp(), fullRing };
  }

  // ---- probing ---------------------------------------------------------------------

  private probeTick(): void {
    this.probeTimer = undefined;
    if (this.stopped) return;
    const periodMs = this.awareness.scale(this.deps.config.probeIntervalMs);
    const startedMs = this.deps.clock.monotonicMs();
    const target = this.order.next(
      () => this.others,
      (id) => this.probeable(id),
    );
    if (target === undefined) {
      this.probeTimer = this.deps.clock.setTimer(periodMs, () => this.probeTick());
      return;
    }
    this.counters.probes++;
    const relays = this.sample(this.deps.config.indirectChecks, (id) => id !== target && isLive(this.table.get(id)!.status));
    const timing = { timeoutMs: this.awareness.scale(this.deps.config.probeTimeoutMs), intervalMs: periodMs, stallToleranceMs: this.deps.config.stallToleranceMs };
    const deps = { clock: this.deps.clock, ping: (id: NodeId, ms: number) => this.ping(id, ms), pingReq: (via: NodeId, id: NodeId, ms: number) => this.pingReq(via, id, ms) };
    this.probe = new Probe(deps, target, relays, timing, (outcome) => {
      this.probe = undefined;
      if (this.stopped) return;
      this.probeDone(target, outcome);
      const waitMs = Math.max(0, startedMs + periodMs - this.deps.clock.monotonicMs());
      this.probeTimer = this.deps.clock.setTimer(waitMs, () => this.probeTick());
    });
  }

  private probeable(id: NodeId): boolean {
    const member = this.table.get(id);
    return member !== undefined && !isGone(member.status);
  }

  private probeDone(target: NodeId, outcome: ProbeOutcome): void {
    switch (outcome.kind) {
      case 'ack':
        this.counters.probesAcked++;
        if (outcome.indirect) this.counters.probesIndirectAcked++;
        this.awareness.apply(-1);
        return;
      case 'inconclusive':
        this.counters.probesInconclusive++;
        this.awareness.apply(1);
        return;
      case 'failed': {
        this.counters.probesFailed++;
        // Lifeguard: relays that did not even nack suggest the problem is here.
        this.awareness.apply(outcome.nacksExpected > 0 ? outcome.nacksExpected - outcome.nacks : 1);
        // Suspect it, or, if already suspected, confirm independently (Lifeguard: shortens the timer everywhere).
        const member = this.table.get(target);
        if (member === undefined || isGone(member.status)) return;
        if (this.apply({ ...member, status: 'suspect', from: this.deps.self.id })) this.deps.onChange();
        return;
      }
    }
  }

  /** One ping; true on an ack. The reply's piggyback is absorbed either way. */
  private ping(target: NodeId, timeoutMs: number): Promise<boolean> {
    const message: PeerRequest = { type: 'ping', from: this.self(), target, ring: this.ringStamp(), gossip: this.gossipFor(target) };
    return this.deps.transport.request(target, message, timeoutMs).then(
      (reply) => {
        const answer = this.parsePing(reply);
        return answer === 'ack';
      },
      () => false,
    );
  }

  private pingReq(via: NodeId, target: NodeId, timeoutMs: number): Promise<RelayAnswer> {
    const message: PeerRequest = { type: 'ping-req', from: this.self(), target, timeoutMs, ring: this.ringStamp(), gossip: this.gossipFor(via) };
    return this.deps.transport.request(via, message, timeoutMs).then(
      (reply) => this.parsePing(reply),
      (): RelayAnswer => 'failed',
    );
  }

  private parsePing(reply: PeerReply): RelayAnswer {
    if (this.stopped) return 'failed';
    let parsed: ReturnType<typeof parsePingReply>;
    try {
      parsed = parsePingReply(reply);
    } catch {
      return 'failed';
    }
    this.absorb(parsed.from, parsed.gossip, parsed.ring);
    return parsed.type === 'ping-ack' ? 'ack' : 'nack';
  }

  // ---- push-pull and bootstrap --------------------------------------------------------

  private schedulePushPull(delayMs: number): void {
    this.pushPullTimer = this.deps.clock.setTimer(delayMs, () => {
      this.pushPullTimer = undefined;
      if (this.stopped) return;
      const [target] = this.sample(1, (id) => this.table.get(id)!.status !== 'left');
      if (target !== undefined) this.pushPull(target, false, undefined);
      this.schedulePushPull(pushPullIntervalMs(this.deps.config, this.table.size));
    });
  }

  /** Seeds are asked until each has answered once; after that only while this node has no ring. */
  private bootstrapRound(): void {
    this.bootstrapTimer = undefined;
    if (this.stopped) return;
    for (const seed of this.seedsPending) this.pushPull(seedTarget(seed), true, seed);
    if (this.seedsPending.size > 0 && this.ringStamp().version === 0) {
      this.bootstrapTimer = this.deps.clock.setTimer(this.deps.config.bootstrapIntervalMs, () => this.bootstrapRound());
    }
  }

  private pushPull(target: NodeId, join: boolean, seed: string | undefined): void {
    this.counters.pushPulls++;
    const message: PeerRequest = { type: 'push-pull', from: this.self(), join, members: this.members(), ring: this.ringStamp() };
    this.deps.transport.request(target, message, this.deps.config.pushPullTimeoutMs).then(
      (reply) => {
        if (this.stopped) return;
        let parsed: ReturnType<typeof parsePushPullReply>;
        try {
          parsed = parsePushPullReply(reply);
        } catch {
          this.counters.pushPullsFailed++;
          return;
        }
        this.mergeState(parsed.from, parsed.members);
        if (parsed.fullRing !== null) this.deps.ring?.received(parsed.fullRing);
        else this.deps.ring?.heard(parsed.from.id, parsed.ring);
        if (seed !== undefined && this.seedsPending.delete(seed)) {
          if (parsed.from.id !== this.deps.self.id) this.seedIds.add(parsed.from.id);
          this.reportSeedsIfAllAnswered();
        }
      },
      () => void this.counters.pushPullsFailed++,
    );
  }

  private reportSeedsIfAllAnswered(): void {
    if (this.seedsReported || this.seedsPending.size > 0) return;
    this.seedsReported = true;
    this.deps.onSeedsContacted?.([...this.seedIds]);
  }

  // ---- applying gossip ---------------------------------------------------------------

  /** A message's sender vouches for itself; its piggyback and ring stamp come along. */
  private absorb(from: MemberInfo, gossip: readonly MemberUpdate[], ring: RingStamp): void {
    if (this.stopped) return;
    let changed = this.apply({ ...from, from: from.id });
    for (const update of gossip) changed = this.apply(update) || changed;
    if (changed) this.deps.onChange();
    this.deps.ring?.heard(from.id, ring);
  }

  /**
   * A peer's full state (memberlist mergeState). Its `dead` verdicts arrive
   * here as suspicions: we give the member the chance to refute rather than
   * take a possibly stale verdict as final.
   */
  private mergeState(from: MemberInfo, members: readonly MemberInfo[]): void {
    let changed = this.apply({ ...from, from: from.id });
    for (const member of members) {
      if (member.id === from.id) continue;
      const known = this.table.get(member.id);
      const soften = member.status === 'dead' && known !== undefined;
      const update: MemberUpdate = soften ? { ...member, status: 'suspect', from: from.id } : { ...member, from: isLive(member.status) ? member.id : from.id };
      changed = this.apply(update) || changed;
    }
    if (changed) this.deps.onChange();
  }

  /** Applies one update under the precedence rules; returns whether our view changed. */
  private apply(update: MemberUpdate): boolean {
    if (update.incarnation > INCARNATION_MAX) return false;
    if (update.id === this.deps.self.id) return this.aboutSelf(update);
    const known = this.table.get(update.id);
    if (known === undefined && this.table.size >= this.deps.config.membersMax) return false;
    const verdict = judge(known, update);
    if (verdict === 'ignore') return false;
    if (verdict === 'confirm') {
      this.counters.confirmations++;
      if (this.suspicions.get(update.id)?.confirm(update.from)) this.broadcasts.enqueue(update);
      return false;
    }
    const member: MemberInfo = { id: update.id, api: update.api, peer: update.peer, status: update.status, incarnation: update.incarnation, zone: update.zone };
    if (known === undefined) this.insert(member);
    else this.table.set(member.id, member);
    this.transition(member, update.from, known === undefined);
    this.broadcasts.enqueue(update);
    return true;
  }

  private transition(member: MemberInfo, from: NodeId, isNew: boolean): void {
    this.suspicions.get(member.id)?.cancel();
    this.suspicions.delete(member.id);
    const event = { id: member.id, incarnation: member.incarnation, from };
    switch (member.status) {
      case 'suspect':
        this.counters.suspectEvents++;
        this.suspicions.set(member.id, this.newSuspicion(member, from));
        this.deps.onEvent?.({ kind: 'suspect', ...event });
        return;
      case 'dead':
        this.counters.deadEvents++;
        this.deps.onEvent?.({ kind: 'dead', ...event });
        return;
      case 'left':
        this.deps.onEvent?.({ kind: 'left', ...event });
        return;
      default:
        this.counters.aliveEvents++;
        this.deps.onEvent?.({ kind: isNew ? 'joined' : 'alive', ...event });
    }
  }

  private newSuspicion(member: MemberInfo, from: NodeId): Suspicion {
    const config = this.deps.config;
    const n = this.liveCount();
    const minMs = suspicionTimeoutMs(config.suspicionMult, n, config.probeIntervalMs);
    const options = {
      k: expectedConfirmations(config.suspicionMult, n),
      minMs,
      maxMs: minMs * config.suspicionMaxTimeoutMult,
      stallToleranceMs: config.stallToleranceMs,
      stallGraceMs: config.probeIntervalMs,
    };
    return new Suspicion(this.deps.clock, from, options, () => this.suspicionExpired(member.id, member.incarnation));
  }

  private suspicionExpired(id: NodeId, incarnation: number): void {
    this.suspicions.delete(id);
    const member = this.table.get(id);
    if (this.stopped || member === undefined || member.status !== 'suspect' || member.incarnation !== incarnation) return;
    if (this.apply({ ...member, status: 'dead', from: this.deps.self.id })) this.deps.onChange();
  }

  /** Gossip about ourselves: refute any suspicion or death by raising our incarnation past it. */
  private aboutSelf(update: MemberUpdate): boolean {
    const self = this.self();
    if (!mustRefute(self, update)) return false;
    const incarnation = Math.max(self.incarnation, update.incarnation) + 1;
    this.table.set(self.id, { ...self, incarnation });
    this.counters.refutations++;
    // Lifeguard: being suspected suggests we are the slow one.
    this.awareness.apply(1);
    this.broadcasts.enqueue(this.selfUpdate());
    this.deps.onIncarnation?.(incarnation);
    this.deps.onEvent?.({ kind: 'refute', id: self.id, incarnation, from: update.from });
    return true;
  }

  // ---- helpers ---------------------------------------------------------------------

  private insert(member: MemberInfo): void {
    assert(!this.table.has(member.id) && member.id !== this.deps.self.id, 'membership: insert of a known member');
    this.table.set(member.id, member);
    this.others.push(member.id);
  }

  /**
   * Piggyback for a message to `peer`: queued updates within the per-message
   * bounds, led by our verdict on `peer` itself when we hold it suspect or
   * dead, so it can refute at once.
   */
  private gossipFor(peer: NodeId): MemberUpdate[] {
    const { gossipUpdatesPerMessageMax: countMax, gossipBytesPerMessageMax: bytesMax, retransmitMult } = this.deps.config;
    const view = this.table.get(peer);
    const accusation = view !== undefined && !isLive(view.status) ? [{ ...view, from: this.deps.self.id }] : [];
    const budget = bytesMax - accusation.reduce((sum, u) => sum + updateBytes(u), 0);
    const queued = this.broadcasts.take(retransmitLimit(retransmitMult, this.table.size), countMax - accusation.length, Math.max(0, budget));
    const gossip = [...accusation, ...queued];
    this.counters.gossipSent += gossip.length;
    assert(gossip.length <= countMax, 'membership: piggyback over its bound');
    return gossip;
  }

  private selfUpdate(): MemberUpdate {
    return { ...this.self(), from: this.deps.self.id };
  }

  private ringStamp(): RingStamp {
    return this.deps.ring?.stamp() ?? NO_RING;
  }

  /** Members neither dead nor left, self included: N for the suspicion timeout. */
  private liveCount(): number {
    let n = 0;
    for (const member of this.table.values()) if (!isGone(member.status)) n++;
    return n;
  }

  /** Up to `k` distinct other members satisfying `eligible`, at random. */
  private sample(k: number, eligible: (id: NodeId) => boolean): NodeId[] {
    if (this.others.length <= SAMPLE_BY_REJECTION_ABOVE) return pickRandom(this.others.filter(eligible), k, this.deps.random);
    const chosen = new Set<NodeId>();
    for (let attempt = 0; attempt < SAMPLE_DRAWS_PER_PICK * k && chosen.size < k; attempt++) {
      const id = this.others[this.deps.random.int(this.others.length)]!;
      if (eligible(id)) chosen.add(id);
    }
    return [...chosen];
  }
}
