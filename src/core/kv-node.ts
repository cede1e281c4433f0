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
import { MemberTable } from './membership/member-table.js';
import type { MemberInfo, NodeId, PeerReply } from './messages.js';
import { parsePeerRequest } from './peer-protocol.js';
import { REAPER_DEFAULTS, TombstoneReaper } from './replica/reaper.js';
import { Replica } from './replica/replica.js';
import { DotClock } from './version/dot-clock.js';
import { Placement } from './ring/placement.js';
import { createRing, type Preflist, type Ring } from './ring/ring.js';
import { fromWire, toWire } from './version/codec.js';
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
  /** Membership remembered from the last run, so a restarted node knows the ring at once. */
  knownMembers: readonly MemberInfo[];
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
}

/**
 * One dynakv node's protocol logic, free of I/O: membership, ring placement,
 * the coordinator and the replica role, plus the peer message dispatcher.
 * Production wraps it in HTTP servers; the simulator wires virtual ports.
 */
export class KvNode {
  readonly replica: Replica;
  readonly placement: Placement;
  readonly membership: MemberTable;
  readonly coordinator: Coordinator;
  readonly hints: HintQueue;
  readonly handoff: HintedHandoff;
  readonly reaper: TombstoneReaper;
  private readonly startedAtMs: number;
  private inflight = 0;
  /** Requests refused with `overloaded`. */
  shed = 0;

  constructor(
    readonly config: KvNodeConfig,
    private readonly deps: KvNodeDeps,
  ) {
    this.startedAtMs = deps.clock.now();
    this.replica = new Replica(deps.store);
    const self: MemberInfo = { id: config.id, api: config.api, peer: config.peer, status: 'alive', incarnation: config.incarnation, zone: config.zone };
    this.membership = new MemberTable(
      { self, seeds: config.seeds, transport: deps.transport, clock: deps.clock, random: deps.random, onChange: (m) => this.onMembersChanged(m) },
      config.knownMembers,
    );
    this.placement = new Placement(deps.hasher, this.computeRing(this.membership.members()));
    this.hints = new HintQueue(deps.hintLog ?? new MemoryHintLog());
    const hintedHandoff = config.hintedHandoff ?? true;
    this.handoff = new HintedHandoff(this.hints, deps.transport, deps.clock, (id) => this.isAvailable(id), {
      ...HANDOFF_DEFAULTS,
      hintWindowMs: config.hintWindowMs ?? HANDOFF_DEFAULTS.hintWindowMs,
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
      dotClock: new DotClock(deps.store),
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
  }

  stop(): void {
    this.membership.stop();
    this.handoff.stop();
    this.reaper.stop();
  }

  ready(): boolean {
    return this.membership.ready();
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
      antiEntropy: { lastExchange: null as string | null, keysRepaired: 0, bytesSent: 0 },
      storage: { keys: stats.keys, bytes: stats.bytes },
      transfers: { active: 0, pending: 0 },
      ring: { version: this.placement.ring.version, partitionsOwned: this.placement.ring.owners.filter((o) => o === this.config.id).length },
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
          const object = fromWire(message.object);
          if (message.hint !== undefined && message.hint !== this.config.id) {
            await this.hints.add(message.hint, message.partition, message.key, object, this.deps.clock.now());
          } else {
            await this.replica.apply(message.partition, message.key, object);
          }
          return { type: 'ack' };
        }
        case 'read': {
          const object = localAnswer(this.coordinator.deps, message.partition, message.key, message.hints === true);
          return { type: 'object', object: object === null ? null : toWire(object) };
        }
        case 'reap':
          await this.reaper.reapLocal(message.partition, message.key, message.object);
          return { type: 'ack' };
        case 'coordinate':
          return await this.coordinator.coordinateForwarded(message.request);
        case 'members':
          return { type: 'members', members: this.membership.receive(message.from, message.members) };
      }
    } catch (error) {
      return { type: 'error', code: 'invalid_message', message: error instanceof Error ? error.message : String(error) };
    }
  }

  private hintStatus(): { pending: number; byTarget: Record<string, number>; bytes: number; delivered: number; expired: number } {
    const stats = this.hints.stats();
    return { pending: stats.pending, byTarget: stats.byTarget, bytes: stats.bytes, delivered: this.hints.delivered, expired: this.hints.expired };
  }

  addressOf(id: NodeId): string | undefined {
    if (id.startsWith('@')) return id.slice(1);
    return this.membership.get(id)?.peer;
  }

  private isAvailable(id: NodeId): boolean {
    const member = this.membership.get(id);
    return member !== undefined && (member.status === 'alive' || member.status === 'suspect' || member.status === 'joining');
  }

  private computeRing(members: readonly MemberInfo[]): Ring {
    const ids = members.filter((m) => m.status !== 'left').map((m) => m.id);
    return createRing(ids, this.config.partitions, this.config.replicas);
  }

  private onMembersChanged(members: MemberInfo[]): void {
    const zones = new Map<NodeId, string>();
    for (const m of members) if (m.zone !== undefined) zones.set(m.id, m.zone);
    this.placement.setRing(this.computeRing(members), zones);
    this.deps.persistMembers(members);
  }
}
