import type { Clock, TimerId } from '../../ports/clock.js';
import type { Transport } from '../../ports/transport.js';
import { assert } from '../assert.js';
import type { NodeId, PeerReply, PeerRequest } from '../messages.js';
import type { Replica } from '../replica/replica.js';
import type { Placement } from '../ring/placement.js';
import type { AntiEntropyConfig } from './config.js';
import { exchange, type ExchangeResult } from './exchange.js';
import type { AaeRequest } from './messages.js';
import { decodeHashes, differingIndices } from './hash-wire.js';
import { expectRoots } from './protocol.js';
import { serveAae } from './serve.js';
import { ByteThrottle } from './throttle.js';
import { TreeBuilder } from './tree-builder.js';
import type { TreeStore } from './tree-store.js';
import { wireBytes } from './wire-size.js';

export interface AntiEntropyDeps {
  readonly self: NodeId;
  /** The node's tree-keeping store; undefined when anti-entropy is off (no trees, no exchanges, nothing answered). */
  readonly trees: TreeStore | undefined;
  readonly replica: Replica;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly placement: Placement;
  isAvailable(id: NodeId): boolean;
  readonly config: AntiEntropyConfig;
}

interface WorkItem {
  readonly partition: number;
  readonly peer: NodeId;
}

/**
 * Schedules Merkle exchanges between this node and the other primaries of
 * every partition it is a primary of (DESIGN §5).
 *
 * Every round (`roundIntervalMs`) sweeps one peer, round-robin: a single
 * `aae-roots` message compares the roots of every partition the two share
 * (8 bytes each), and each partition whose roots differ is queued. Up to
 * `exchangesConcurrentMax` workers drain the queue, one exchange at a time,
 * yielding a timer turn between exchanges and between repair batches, with
 * all their traffic charged to one byte-rate throttle. A partition with more
 * differences than one exchange repairs is queued again at once. So an
 * in-sync cluster costs one small message per round, every shared partition
 * is compared at least every peers × roundIntervalMs, and repair work scales
 * with the differences, not the keys.
 */
export class AntiEntropy {
  private readonly queue: WorkItem[] = [];
  private readonly queued = new Set<string>();
  private readonly throttle: ByteThrottle;
  private readonly builder: TreeBuilder | undefined;
  private roundTimer: TimerId | undefined;
  private active = 0;
  private sweeping = false;
  private nextPeer = 0;
  private stopped = false;

  lastExchangeMs: number | undefined;
  exchanges = 0;
  exchangesInSync = 0;
  exchangesFailed = 0;
  sweeps = 0;
  keysRepairedLocal = 0;
  keysRepairedRemote = 0;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(private readonly deps: AntiEntropyDeps) {
    const c = deps.config;
    assert(c.roundIntervalMs > 0 && c.exchangesConcurrentMax >= 1 && c.keysPerExchangeMax >= 1 && c.keysPerBatchMax >= 1, 'anti-entropy: bad config');
    this.throttle = new ByteThrottle(c.bytesPerSecondMax);
    this.builder = deps.trees === undefined ? undefined : new TreeBuilder(deps.trees, deps.clock, c.rebuildKeysPerTick, c.rebuildTickMs);
  }

  get enabled(): boolean {
    return this.deps.trees !== undefined;
  }

  start(): void {
    if (this.deps.trees === undefined) return;
    this.builder!.start();
    this.scheduleRound();
  }

  stop(): void {
    this.stopped = true;
    this.builder?.stop();
    if (this.roundTimer !== undefined) this.deps.clock.clearTimer(this.roundTimer);
  }

  /** One scheduling round (the timer calls it; tests and the simulator may too). */
  round(): void {
    if (this.stopped || this.deps.trees === undefined) return;
    if (!this.sweeping) void this.sweep();
    this.pump();
  }

  /** Answers a peer's exchange request from this node's trees (read only). */
  serve(message: AaeRequest): PeerReply {
    if (this.deps.trees === undefined) return { type: 'error', code: 'anti_entropy_off', message: 'anti-entropy is off on this node' };
    const reply = serveAae(this.deps.trees, message);
    this.bytesReceived += wireBytes(message);
    this.bytesSent += wireBytes(reply);
    return reply;
  }

  status() {
    const trees = this.deps.trees;
    return {
      enabled: this.enabled,
      // Milliseconds since the epoch; the HTTP layer renders it as an ISO time.
      lastExchange: this.lastExchangeMs ?? null,
      keysRepaired: this.keysRepairedLocal + this.keysRepairedRemote,
      keysRepairedLocal: this.keysRepairedLocal,
      keysRepairedRemote: this.keysRepairedRemote,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      exchanges: this.exchanges,
      exchangesInSync: this.exchangesInSync,
      exchangesFailed: this.exchangesFailed,
      sweeps: this.sweeps,
      treesBuilt: trees?.treesBuilt ?? 0,
      treesTotal: trees?.partitions ?? 0,
      rebuildErrors: trees?.rebuildErrors ?? 0,
      queued: this.queue.length,
      active: this.active,
    };
  }

  /** Peers sharing partitions with this node as primaries, each with those partitions (sorted ids). */
  sharedPartitions(): Map<NodeId, number[]> {
    const self = this.deps.self;
    const out = new Map<NodeId, number[]>();
    const partitions = this.deps.placement.ring.partitions;
    for (let p = 0; p < partitions; p++) {
      const primaries = this.deps.placement.preflist(p).primaries;
      if (!primaries.includes(self)) continue;
      for (const peer of primaries) {
        if (peer === self) continue;
        let list = out.get(peer);
        if (list === undefined) out.set(peer, (list = []));
        list.push(p);
      }
    }
    return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private scheduleRound(): void {
    if (this.stopped) return;
    this.roundTimer = this.deps.clock.setTimer(this.deps.config.roundIntervalMs, () => {
      this.roundTimer = undefined;
      this.round();
      this.scheduleRound();
    });
  }

  /** Compares the roots of every partition shared with the next available peer; queues the differing ones. */
  private async sweep(): Promise<void> {
    const trees = this.deps.trees!;
    const shared = [...this.sharedPartitions()].filter(([peer]) => this.deps.isAvailable(peer));
    if (shared.length === 0) return;
    const [peer, all] = shared[this.nextPeer++ % shared.length]!;
    const partitions = all.filter((p) => trees.isBuilt(p));
    if (partitions.length === 0) return;
    this.sweeping = true;
    try {
      const reply = expectRoots(await this.ask(peer, { type: 'aae-roots', partitions }), partitions.length);
      for (const at of differingIndices(trees.roots(partitions), decodeHashes(reply.roots))) {
        if (reply.ready[at] === 1) this.enqueue({ partition: partitions[at]!, peer });
      }
      this.sweeps++;
      this.lastExchangeMs = this.deps.clock.now();
      this.pump();
    } catch {
      this.exchangesFailed++;
    } finally {
      this.sweeping = false;
    }
  }

  private enqueue(item: WorkItem): void {
    const id = `${item.partition}/${item.peer}`;
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(item);
  }

  private pump(): void {
    while (!this.stopped && this.active < this.deps.config.exchangesConcurrentMax && this.queue.length > 0) {
      this.active++;
      void this.work().finally(() => this.active--);
    }
  }

  private async work(): Promise<void> {
    for (let item = this.queue.shift(); item !== undefined && !this.stopped; item = this.queue.shift()) {
      this.queued.delete(`${item.partition}/${item.peer}`);
      await this.run(item);
      await this.pause(0);
    }
  }

  private async run(item: WorkItem): Promise<void> {
    const trees = this.deps.trees!;
    const primaries = this.deps.placement.preflist(item.partition).primaries;
    if (!primaries.includes(this.deps.self) || !primaries.includes(item.peer) || !this.deps.isAvailable(item.peer)) return;
    let result: ExchangeResult;
    try {
      result = await exchange(
        {
          trees,
          replica: this.deps.replica,
          keysPerExchangeMax: this.deps.config.keysPerExchangeMax,
          keysPerBatchMax: this.deps.config.keysPerBatchMax,
          partitionOf: (key) => this.deps.placement.partitionOf(key),
          ask: (message) => this.ask(item.peer, message),
          yieldTurn: () => this.pause(0),
        },
        item.partition,
      );
    } catch {
      this.exchangesFailed++;
      return;
    }
    if (result.status === 'not-ready') return;
    this.exchanges++;
    if (result.status === 'in-sync') this.exchangesInSync++;
    this.keysRepairedLocal += result.repairedLocal;
    this.keysRepairedRemote += result.repairedRemote;
    this.lastExchangeMs = this.deps.clock.now();
    if (result.more) this.enqueue(item);
  }

  /** One request to `peer`, counted and throttled (both directions). */
  private async ask(peer: NodeId, message: PeerRequest): Promise<PeerReply> {
    const sent = wireBytes(message);
    this.bytesSent += sent;
    await this.charge(sent);
    const reply = await this.deps.transport.request(peer, message, this.deps.config.requestTimeoutMs);
    const received = wireBytes(reply);
    this.bytesReceived += received;
    await this.charge(received);
    return reply;
  }

  private async charge(bytes: number): Promise<void> {
    const waitMs = this.throttle.take(bytes, this.deps.clock.now());
    if (waitMs > 0) await this.pause(waitMs);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimer(ms, resolve));
  }
}
