import type { Clock } from '../ports/clock.js';
import type { Hasher } from '../ports/hasher.js';
import type { Random } from '../ports/random.js';
import type { Store } from '../ports/store.js';
import type { Transport } from '../ports/transport.js';
import { Coordinator, type WriteRequest } from './coordinator/coordinator.js';
import { DynakvError } from './errors.js';
import { LIMITS } from './limits.js';
import type { ReadQuorum } from './coordinator/read-path.js';
import type { WriteQuorum } from './coordinator/write-path.js';
import { MemoryHintLog } from './handoff/memory-hint-log.js';
import type { HintLog } from '../ports/hint-log.js';
import { HANDOFF_DEFAULTS, HintedHandoff } from './handoff/handoff.js';
import { HintQueue } from './handoff/hint-queue.js';
import { localAnswer } from './coordinator/read-path.js';
import { claimantOf, nextRing, pendingClaims } from './membership/claimant.js';
import { membershipConfig, type MembershipConfig } from './membership/config.js';
import { isLive } from './membership/member-state.js';
import { Membership } from './membership/membership.js';
import { RingState } from './membership/ring-state.js';
import { LEFT_CLUSTER_CODE, NOT_HOLDER_CODE, type MemberInfo, type NodeId, type PeerReply, type PeerRequest } from './messages.js';
import { parsePeerRequest } from './peer-protocol.js';
import { REAPER_DEFAULTS, TombstoneReaper } from './replica/reaper.js';
import { Replica } from './replica/replica.js';
import { holdsPartition, strayTargets } from './replica/strays.js';
import { compareIds } from './ring/claim.js';
import { AntiEntropy } from './antientropy/anti-entropy.js';
import { ANTI_ENTROPY_DEFAULTS, type AntiEntropyConfig } from './antientropy/config.js';
import { TreeStore } from './antientropy/tree-store.js';
import { KeyEpochs } from './version/key-epochs.js';
import { TRANSFER_DEFAULTS, type TransferConfig } from './transfer/config.js';
import { Transfers } from './transfer/transfers.js';
import { Placement } from './ring/placement.js';
import { createRing, involves, type Preflist, type Ring } from './ring/ring.js';
import { packObject, unpackObject } from './version/codec.js';
import type { ActorId, VersionedObject, VersionVector } from './version/types.js';

export interface KvNodeConfig {
  id: NodeId;
  actor: ActorId;
  api: string;
  peer: string;
  zone: string | undefined;
  seeds: readonly string[];
  replicas: number;
  partitions: number;
  siblingsMax: number;
  valueBytesMax: number;
  /** Raised on every start so a restarted node's view wins over stale copies. */
  incarnation: number;
  /** Sloppy quorum and hint delivery (`--hinted-handoff on|off`). */
  hintedHandoff?: boolean;
  /** Client requests coordinated at once before 503 overloaded (default LIMITS.coordinatorRequestsInflightMax). */
  requestsInflightMax?: number;
  /** Tombstones younger than this are never reaped (default 1 h). */
  tombstoneGraceMs?: number;
  /** Hint window in ms (default 3 h). */
  hintWindowMs?: number;
  /** Merkle anti-entropy (`--anti-entropy on|off`, default on). Off: no trees are kept, no exchanges run or are answered. */
  antiEntropy?: boolean;
  /** Anti-entropy scheduling bounds (defaults: LIMITS.antiEntropyDefaults). */
  antiEntropyConfig?: Partial<AntiEntropyConfig>;
  /** Membership remembered from the last run, so a restarted node knows the ring at once. */
  knownMembers: readonly MemberInfo[];
  /**
   * The ring persisted by the last run (a restarted node uses it at once).
   * Without one the node bootstraps: it adopts a seed's ring, or, when every
   * seed answered without one, makes the first ring from itself and its seeds.
   * With no seeds at all (static membership, tests) the first ring is made
   * from `knownMembers` at construction.
   */
  knownRing?: Ring;
  /** Gossip timings and bounds (defaults: memberlist's LAN profile, MEMBERSHIP_DEFAULTS). */
  membership?: Partial<MembershipConfig>;
  /** Ownership handoff bounds (defaults: LIMITS.transferDefaults). */
  transferConfig?: Partial<TransferConfig>;
}

export interface KvNodeDeps {
  store: Store;
  transport: Transport;
  clock: Clock;
  random: Random;
  hasher: Hasher;
  /** Durable hints; a memory log when omitted (tests). */
  hintLog?: HintLog;
  /** Persist the member list (best effort; called on every change). */
  persistMembers(members: MemberInfo[]): void;
  /** Persist the ring (called with every ring this node adopts; loaded back as `knownRing`). */
  persistRing?(ring: Ring): void;
  /** Persist our incarnation when it goes up at runtime (a refutation), so the next start goes higher still. */
  persistIncarnation?(incarnation: number): void;
  /** This node has left the cluster (`POST /v1/admin/leave` finished): the host should stop it. */
  onLeft?(): void;
}

/**
 * One dynakv node's protocol logic, free of I/O: membership, ring placement,
 * the coordinator and the replica role, plus the peer message dispatcher.
 * Production wraps it in HTTP servers; the simulator wires virtual ports.
 */
export class KvNode {
  readonly replica: Replica;
  readonly placement: Placement;
  readonly membership: Membership;
  /** The ring as gossiped state (adopted, persisted, versioned). */
  readonly rings: RingState;
  readonly coordinator: Coordinator;
  readonly hints: HintQueue;
  readonly handoff: HintedHandoff;
  readonly reaper: TombstoneReaper;
  readonly antiEntropy: AntiEntropy;
  /** Ownership handoff: streams partitions this node gives up, receives those it gains. */
  readonly transfers: Transfers;
  private readonly transferConfig: TransferConfig;
  private readonly startedAtMs: number;
  private inflight = 0;
  /** Requests refused with `overloaded`. */
  shed = 0;
  /** Peer writes and forwarded coordinations being handled (finishLeave waits for them). */
  private peerWritesInflight = 0;
  /** A leaving node that owns nothing any more: refusing writes until those in flight are done, then `left`. */
  private draining = false;
  /** Replica writes that reached this node for a partition it does not hold, and were hinted on (rehome). */
  strays = 0;
  /** Zones last given to placement, to refresh it only when they change. */
  private zonesKey = '';

  constructor(
    readonly config: KvNodeConfig,
    private readonly deps: KvNodeDeps,
  ) {
    this.startedAtMs = deps.clock.now();
    // Every local write must reach the anti-entropy trees: from here on, everything
    // (replica, reaper, dot clock, status) uses the tree-keeping store.
    const trees = config.antiEntropy === false ? undefined : new TreeStore(deps.store, config.partitions);
    deps = this.deps = { ...deps, store: trees ?? deps.store };
    this.replica = new Replica(deps.store);
    const gossip = membershipConfig(config.membership);
    this.rings = new RingState(
      {
        self: config.id,
        partitions: config.partitions,
        replicas: config.replicas,
        transport: deps.transport,
        fetchTimeoutMs: gossip.pushPullTimeoutMs,
        persist: (ring) => this.deps.persistRing?.(ring),
        onChange: (ring) => this.onRingChanged(ring),
      },
      config.knownRing ?? this.staticRing(),
    );
    const owner = this.rings.current?.owners.includes(config.id) ?? false;
    // A leave survives a restart: a node that was leaving (or had left and not yet stopped) when its
    // process died goes on leaving, instead of coming back as a member and being claimed back in.
    const persisted = config.knownMembers.find((m) => m.id === config.id)?.status;
    const status = persisted === 'leaving' || persisted === 'left' ? 'leaving' : owner ? 'alive' : 'joining';
    const self: MemberInfo = { id: config.id, api: config.api, peer: config.peer, status, incarnation: config.incarnation, zone: config.zone };
    this.membership = new Membership(
      {
        self,
        seeds: config.seeds,
        transport: deps.transport,
        clock: deps.clock,
        random: deps.random,
        config: gossip,
        ring: this.rings,
        onChange: () => this.onMembersChanged(),
        onIncarnation: (incarnation) => this.deps.persistIncarnation?.(incarnation),
        onSeedsContacted: (seedIds) => this.rings.createInitial(seedIds),
      },
      config.knownMembers,
    );
    // Until it has a ring a node owns nothing and serves nothing (ready() is false); this placeholder (version 0) is never used to place data.
    this.placement = new Placement(deps.hasher, this.rings.current ?? { ...createRing([config.id], config.partitions, config.replicas), version: 0 });
    this.placement.setRing(this.placement.ring, this.zones());
    this.antiEntropy = new AntiEntropy({
      self: config.id,
      trees,
      replica: this.replica,
      transport: deps.transport,
      clock: deps.clock,
      placement: this.placement,
      isAvailable: (id) => this.isAvailable(id),
      config: { ...ANTI_ENTROPY_DEFAULTS, ...config.antiEntropyConfig },
    });
    this.transferConfig = { ...TRANSFER_DEFAULTS, ...config.transferConfig };
    this.transfers = new Transfers({
      self: config.id,
      store: deps.store,
      replica: this.replica,
      transport: deps.transport,
      clock: deps.clock,
      config: this.transferConfig,
      ring: () => this.rings.current,
      primaries: (partition) => this.placement.preflist(partition).primaries,
      claimant: () => this.claimantId(),
      onCompleted: () => this.claim(),
      onTick: () => this.finishLeave(),
      busy: () => this.membership.self().status === 'leaving',
    });
    this.hints = new HintQueue(deps.hintLog ?? new MemoryHintLog());
    const hintedHandoff = config.hintedHandoff ?? true;
    this.handoff = new HintedHandoff(this.hints, deps.transport, deps.clock, (id) => this.isAvailable(id), {
      ...HANDOFF_DEFAULTS,
      hintWindowMs: config.hintWindowMs ?? HANDOFF_DEFAULTS.hintWindowMs,
    }, {
      gone: (id) => this.goneForGood(id),
      primaries: (partition) => this.placement.preflist(partition).primaries,
      proxy: (target) => this.hintProxy(target),
    });
    this.reaper = new TombstoneReaper(
      { self: config.id, store: deps.store, transport: deps.transport, clock: deps.clock, placement: this.placement, isAvailable: (id) => this.isAvailable(id) },
      { ...REAPER_DEFAULTS, graceMs: config.tombstoneGraceMs ?? REAPER_DEFAULTS.graceMs },
    );
    this.coordinator = new Coordinator({
      self: config.id,
      actor: config.actor,
      replica: this.replica,
      transport: deps.transport,
      clock: deps.clock,
      placement: this.placement,
      isAvailable: (id) => this.isAvailable(id),
      siblingsMax: config.siblingsMax,
      hints: this.hints,
      sloppyQuorum: hintedHandoff,
      keyEpochs: new KeyEpochs(config.actor, deps.store),
      slotsInFlight: { count: 0 },
    });
  }

  get id(): NodeId {
    return this.config.id;
  }
  get replicas(): number {
    return this.config.replicas;
  }
  get valueBytesMax(): number {
    return this.config.valueBytesMax;
  }

  /** Called once the listeners are bound, before `start`. */
  setAddresses(api: string, peer: string): void {
    this.config.api = api;
    this.config.peer = peer;
    this.membership.updateSelf(api, peer);
  }

  start(): void {
    this.membership.start();
    if (this.config.hintedHandoff ?? true) this.handoff.start();
    this.reaper.start();
    this.antiEntropy.start();
    this.transfers.start();
  }

  stop(): void {
    this.membership.stop();
    this.handoff.stop();
    this.reaper.stop();
    this.antiEntropy.stop();
    this.transfers.stop();
  }

  /**
   * Decommission (`POST /v1/admin/leave`): this node becomes `leaving`; the
   * claimant moves all its partitions away; once it owns nothing and hands
   * nothing off it becomes `left`, gossips that for a moment, and `onLeft`
   * tells the host to stop it.
   */
  leave(): { id: NodeId; status: MemberInfo['status'] } {
    const status = this.membership.self().status;
    if (status !== 'leaving' && status !== 'left') {
      this.membership.setSelfStatus('leaving');
      this.transfers.wake();
      this.claim();
    }
    return { id: this.config.id, status: this.membership.self().status };
  }

  /**
   * Force-remove (`POST /v1/admin/remove/{id}`): a member that is dead for
   * good (its disk is gone) can never leave by itself, and while it owns
   * partitions no ring change can finish. Declared `left` on its behalf, the
   * claimant moves its partitions at once, streaming each from a surviving
   * replica (claimant.ts withoutDeparted); hints held for it go to the new
   * primaries. Only a dead member may be removed: a live one should leave.
   */
  remove(id: NodeId): { id: NodeId; status: MemberInfo['status'] } {
    const member = this.membership.get(id);
    if (member === undefined) throw new DynakvError('not_found', `no member ${id}`);
    if (member.status !== 'left' && !this.membership.removeDead(id)) {
      throw new DynakvError('invalid_parameter', `${id} is ${member.status}: only a dead member can be removed (a running one should leave)`);
    }
    this.claim();
    return { id, status: this.membership.get(id)?.status ?? 'left' };
  }

  /**
   * Leaving is done (or left): no new writes, client or peer, so nothing
   * lands here that would leave with the node (finishLeave waits for the
   * ones in flight).
   */
  private hasLeft(): boolean {
    return this.draining || this.membership.self().status === 'left';
  }

  private leftReply(): PeerReply {
    return { type: 'error', code: LEFT_CLUSTER_CODE, message: `${this.config.id} has left the cluster` };
  }

  /** Ready once the node has a ring (adopted, persisted or made at bootstrap). */
  ready(): boolean {
    return this.rings.current !== undefined;
  }

  get(key: string, options: ReadQuorum): Promise<VersionedObject | undefined> {
    return this.admit(() => this.coordinator.get(key, options));
  }

  put(key: string, request: WriteRequest, options: WriteQuorum): Promise<VersionedObject> {
    return this.admit(() => this.coordinator.put(key, request, options));
  }

  delete(key: string, context: VersionVector | undefined, options: WriteQuorum & { r: number; pr: number }): Promise<VersionedObject> {
    return this.admit(() => this.coordinator.delete(key, context, options));
  }

  /** Admission control: past the in-flight bound a client gets 503 overloaded, not an ever-growing queue. */
  private async admit<T>(run: () => Promise<T>): Promise<T> {
    // A node that does not know the ring yet would place keys on itself alone.
    if (!this.ready()) throw new DynakvError('overloaded', `node ${this.config.id} is still joining the cluster`, { retryAfterSeconds: 1 });
    // A node that has left stops in a moment: hints it kept for a failed write would go with it.
    if (this.hasLeft()) throw new DynakvError('overloaded', `node ${this.config.id} has left the cluster`, { retryAfterSeconds: 1 });
    if (this.inflight >= (this.config.requestsInflightMax ?? LIMITS.coordinatorRequestsInflightMax)) {
      this.shed++;
      throw new DynakvError('overloaded', `node ${this.config.id} has ${this.inflight} requests in flight`, { retryAfterSeconds: 1 });
    }
    this.inflight++;
    try {
      return await run();
    } finally {
      this.inflight--;
    }
  }

  localGet(key: string): VersionedObject | undefined {
    return this.replica.read(this.placement.partitionOf(key), key);
  }

  members(): MemberInfo[] {
    return this.membership.members();
  }

  ringVersion(): number {
    return this.placement.ring.version;
  }

  ring(): { partitions: number; replicas: number; owners: string[]; version: number } {
    const ring = this.placement.ring;
    return { partitions: ring.partitions, replicas: ring.replicas, owners: [...ring.owners], version: ring.version };
  }

  preflist(key: string): Preflist {
    return this.placement.locate(key);
  }

  status() {
    const stats = this.deps.store.stats();
    return {
      id: this.config.id,
      uptime: Math.floor((this.deps.clock.now() - this.startedAtMs) / 1000),
      members: this.members(),
      hints: this.hintStatus(),
      antiEntropy: this.antiEntropy.status(),
      storage: { keys: stats.keys, bytes: stats.bytes },
      transfers: this.transfers.status(),
      ring: { version: this.placement.ring.version, partitionsOwned: this.placement.ring.owners.filter((o) => o === this.config.id).length },
      membership: this.membershipStatus(),
      tombstones: { reaped: this.reaper.reaped, skipped: this.reaper.skipped },
      coordinator: { inflight: this.inflight, shed: this.shed, fallbackCoordinated: this.coordinator.fallbackCoordinated, forwarded: this.coordinator.forwarded, readRepairs: this.coordinator.repairs.sent, readRepairsSkipped: this.coordinator.repairs.skipped },
    };
  }

  /** Every peer message lands here; malformed input becomes an error reply, never a throw. */
  async handlePeer(input: unknown): Promise<PeerReply> {
    try {
      const message = parsePeerRequest(input);
      switch (message.type) {
        case 'replicate': {
          // Left: nothing stored here from now on would be delivered (the node stops in a moment); the sender counts no ack.
          if (this.hasLeft()) return this.leftReply();
          this.peerWritesInflight++;
          try {
            return await this.replicate(message);
          } finally {
            this.peerWritesInflight--;
          }
        }
        case 'read': {
          // The stored bytes go back as they are: no decode and re-encode here.
          if (message.hints !== true) {
            // Asked as a replica of a partition we do not hold (the asker's ring is older or newer than ours):
            // our copy, or its absence, says nothing of what the holders have, and counted toward r it could
            // hide an acknowledged write. Refusing makes the coordinator count one replica fewer.
            if (!this.holds(message.partition)) return { type: 'error', code: NOT_HOLDER_CODE, message: `${this.config.id} does not hold partition ${message.partition}` };
            return { type: 'object', packed: this.replica.readPacked(message.partition, message.key) ?? null };
          }
          const object = localAnswer(this.coordinator.deps, message.partition, message.key, true);
          return { type: 'object', packed: object === null ? null : packObject(object) };
        }
        case 'reap':
          await this.reaper.reapLocal(message.partition, message.key, message.object);
          return { type: 'ack' };
        case 'coordinate':
          if (this.hasLeft()) return this.leftReply();
          this.peerWritesInflight++;
          try {
            return await this.coordinator.coordinateForwarded(message.request);
          } finally {
            this.peerWritesInflight--;
          }
        case 'aae-roots':
        case 'aae-hashes':
        case 'aae-keys':
        case 'aae-fetch':
          return this.antiEntropy.serve(message);
        case 'ping':
          return this.membership.handlePing(message);
        case 'ping-req':
          return await this.membership.handlePingReq(message);
        case 'push-pull':
          return this.membership.handlePushPull(message);
        case 'ring-get':
          return this.rings.handleGet();
        case 'transfer-batch':
        case 'transfer-done':
          return await this.transfers.handle(message);
      }
    } catch (error) {
      return { type: 'error', code: 'invalid_message', message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** A replica write (or a hint for another node) from a peer. */
  private async replicate(message: Extract<PeerRequest, { type: 'replicate' }>): Promise<PeerReply> {
    // The bytes are a slice of the peer batch: a hint, held for up to the
    // hint window, gets its own copy; a replica's write lives until stored.
    if (message.hint !== undefined && message.hint !== this.config.id) {
      const object = unpackObject(message.object, { copyValues: true });
      await this.hints.add(message.hint, message.partition, message.key, object, this.deps.clock.now());
      return { type: 'ack' };
    }
    const strays = this.strayTargets(message.partition);
    const object = unpackObject(message.object, strays.length > 0 ? { copyValues: true } : undefined);
    await this.replica.apply(message.partition, message.key, object, message.object);
    if (strays.length > 0) await this.rehome(strays, message.partition, message.key, object);
    return { type: 'ack' };
  }

  private hintStatus(): { pending: number; byTarget: Record<string, number>; bytes: number; delivered: number; expired: number; strays: number } {
    const stats = this.hints.stats();
    return { pending: stats.pending, byTarget: stats.byTarget, bytes: stats.bytes, delivered: this.hints.delivered, expired: this.hints.expired, strays: this.strays };
  }

  /** A primary of the partition under our ring, or still handing it off. */
  private holds(partition: number): boolean {
    return holdsPartition(this.config.id, this.placement.preflist(partition));
  }

  /** Holders to hint a replica write to, when this node does not hold its partition (replica/strays.ts). */
  private strayTargets(partition: number): NodeId[] {
    // Without hint delivery the hints would never leave: the write then stays only here.
    if (!(this.config.hintedHandoff ?? true) || !this.ready()) return [];
    return strayTargets(this.config.id, partition, this.placement.preflist(partition), this.placement.ring);
  }

  /** Stored here, and made durable hints for the partition's holders before the write is acknowledged. */
  private async rehome(targets: readonly NodeId[], partition: number, key: string, object: VersionedObject): Promise<void> {
    this.strays++;
    const now = this.deps.clock.now();
    await Promise.all(targets.map((target) => this.hints.add(target, partition, key, object, now)));
  }

  addressOf(id: NodeId): string | undefined {
    if (id.startsWith('@')) return id.slice(1);
    return this.membership.get(id)?.peer;
  }

  /** Dead and left members (and unknown ids) are skipped by the coordinator instead of waited for; a suspect still gets a chance. */
  private isAvailable(id: NodeId): boolean {
    const member = this.membership.get(id);
    return member !== undefined && (isLive(member.status) || member.status === 'suspect');
  }

  /**
   * A member hints can no longer wait for: it has left, or it is dead and the
   * ring gives it nothing to own or hand off (a node that left while its
   * `left` gossip was lost is seen as dead, and would keep its hints for the
   * whole hint window). Should it come back, it would not be a primary anyway.
   */
  private goneForGood(id: NodeId): boolean {
    const status = this.membership.get(id)?.status;
    if (status === 'left') return true;
    if (status !== 'dead') return false;
    return !involves(this.placement.ring, id);
  }

  /**
   * Who holds our hints for a down `target` once we are leaving and own
   * nothing: the lowest-id alive member other than us and the target, so
   * every round picks the same one.
   */
  private hintProxy(target: NodeId): NodeId | undefined {
    if (this.membership.self().status !== 'leaving') return undefined;
    const ring = this.rings.current;
    if (ring === undefined || ring.owners.includes(this.config.id)) return undefined;
    const candidates = this.membership.members().filter((m) => m.status === 'alive' && m.id !== this.config.id && m.id !== target);
    return candidates.map((m) => m.id).sort(compareIds)[0];
  }

  /** Static membership (no seeds at all): the first ring is made from the members given, at once. */
  private staticRing(): Ring | undefined {
    if (this.config.seeds.length > 0) return undefined;
    const ids = new Set([this.config.id, ...this.config.knownMembers.filter((m) => m.status !== 'left').map((m) => m.id)]);
    return createRing([...ids], this.config.partitions, this.config.replicas);
  }

  private zones(): ReadonlyMap<NodeId, string> {
    const zones = new Map<NodeId, string>();
    for (const m of this.membership.members()) if (m.zone !== undefined) zones.set(m.id, m.zone);
    return zones;
  }

  /** Member states changed. The ring does not follow them (dead members keep their partitions); only zones may have. */
  private onMembersChanged(): void {
    const members = this.membership.members();
    const zones = this.zones();
    const before = this.zonesKey;
    this.zonesKey = [...zones].join(';');
    if (this.zonesKey !== before) this.placement.setRing(this.placement.ring, zones);
    this.deps.persistMembers(members);
    this.claim();
  }

  /** A new ring was adopted: place keys by it, and announce whether we own partitions (alive) or not yet (joining). */
  private onRingChanged(ring: Ring): void {
    this.placement.setRing(ring, this.zones());
    (this.transfers as Transfers | undefined)?.ringChanged(ring);
    const status = this.membership.self().status;
    if (status === 'joining' || status === 'alive') this.membership.setSelfStatus(ring.owners.includes(this.config.id) ? 'alive' : 'joining');
    this.claim();
  }

  /**
   * The claimant hook: the lowest-id alive ring owner is where ring changes
   * are made (joins, leaves, clearing verified transfers; one change at a
   * time, see membership/claimant.ts). Its ring is adopted here and gossiped.
   */
  private claim(): void {
    const ring = this.rings.current;
    if (ring === undefined || this.claimantId() !== this.config.id) return;
    const members = this.membership.members();
    const departed = new Set(members.filter((m) => m.status === 'left').map((m) => m.id));
    const next = nextRing(ring, pendingClaims(ring, members), (this.transfers as Transfers | undefined)?.completed(), this.zones(), departed);
    if (next !== undefined) this.rings.offer(next);
  }

  private claimantId(): NodeId | undefined {
    const ring = this.rings.current;
    return ring === undefined ? undefined : claimantOf(ring, (id) => this.membership.get(id)?.status);
  }

  /** A leaving node that owns nothing and hands nothing off has left; the host stops it after gossip had a moment. */
  private finishLeave(): void {
    const ring = this.rings.current;
    if (ring === undefined || this.membership.self().status !== 'leaving') return;
    const id = this.config.id;
    if (involves(ring, id)) {
      this.draining = false;
      return;
    }
    // No new writes from here on; those in flight finish first (a failed one may keep a hint here).
    this.draining = true;
    if (this.inflight > 0 || this.peerWritesInflight > 0 || this.coordinator.deps.slotsInFlight.count > 0) return;
    // Hints may be the only copy of a write (w = 1): they leave first, with the handoff's proxy rounds.
    if ((this.config.hintedHandoff ?? true) && this.hints.stats().pending > 0) return;
    this.membership.setSelfStatus('left');
    this.deps.clock.setTimer(this.transferConfig.leftLingerMs, () => this.deps.onLeft?.());
  }

  private membershipStatus() {
    const membership = this.membership;
    const self = membership.self();
    const counts: Partial<Record<MemberInfo['status'], number>> = {};
    for (const m of membership.members()) counts[m.status] = (counts[m.status] ?? 0) + 1;
    const ring = this.rings.current;
    return {
      status: self.status,
      incarnation: self.incarnation,
      awareness: membership.awarenessScore,
      members: counts,
      seedsPending: membership.pendingSeeds(),
      broadcastsQueued: membership.broadcastsQueued,
      claimant: ring === undefined ? null : (claimantOf(ring, (id) => membership.get(id)?.status) ?? null),
      ringsAdopted: this.rings.adopted,
      ringFetches: this.rings.fetches,
      ...membership.counters,
    };
  }
}
