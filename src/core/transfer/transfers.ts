import type { Clock, TimerId } from '../../ports/clock.js';
import type { Store } from '../../ports/store.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId, PeerReply } from '../messages.js';
import type { Replica } from '../replica/replica.js';
import type { PendingTransfer, Ring } from '../ring/ring.js';
import type { TransferConfig } from './config.js';
import { dropPartition } from './drop.js';
import type { TransferRequest } from './messages.js';
import { transferKey } from './plan.js';
import { applyBatch } from './receiver.js';
import { PartitionSender, type TransferProgress } from './sender.js';

export interface TransfersDeps {
  readonly self: NodeId;
  readonly store: Store;
  readonly replica: Replica;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly config: TransferConfig;
  /** The adopted ring. */
  ring(): Ring | undefined;
  /** Primaries of a partition under the adopted ring (placement, zones included). */
  primaries(partition: number): readonly NodeId[];
  /** The claimant as this node sees it. */
  claimant(): NodeId | undefined;
  /** Claimant side: completions are waiting to be cleared from the ring (KvNode.claim). */
  onCompleted(): void;
  /** Every tick (KvNode finishes a leave here). */
  onTick(): void;
  /** Keep the loop running even without transfers (a leave in progress). */
  busy(): boolean;
}

/** Finished outbound transfers kept for status. */
const RECENT_MAX = 32;
/** Inbound tallies kept for status (one per partition and sender). */
const INBOUND_MAX = 4096;
/** Re-report a verified transfer to the claimant at most this often, until the ring clears it. */
const REPORT_EVERY_TICKS = 4;

/**
 * Ownership handoff on one node (riak_core_handoff_manager): runs the
 * senders of the ring's pending transfers whose source is this node (bounded
 * concurrency), reports verified ones to the claimant until a ring without
 * them arrives, then drops each partition this node no longer serves.
 * Receives batches for the partitions it gains. On the claimant it also
 * collects completion reports. Timers only while there is work, so a settled
 * cluster schedules nothing here.
 */
export class Transfers {
  private readonly senders = new Map<string, PartitionSender>();
  /** Our outbound transfers verified, waiting for the ring to clear them (key → ticks since reported). */
  private readonly verified = new Map<string, number>();
  /** Claimant: completions reported to us, not yet cleared from the ring. */
  private readonly reported = new Set<string>();
  private readonly recent: TransferProgress[] = [];
  private readonly inbound = new Map<string, { partition: number; from: NodeId; keys: number; batches: number }>();
  private lastRing: Ring | undefined;
  private timer: TimerId | undefined;
  private running = false;
  readonly counters = { keysSent: 0, bytesSent: 0, keysReceived: 0, batchesReceived: 0, partitionsDropped: 0, keysDropped: 0, verified: 0, exhausted: 0 };

  constructor(private readonly deps: TransfersDeps) {
    this.lastRing = deps.ring();
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    for (const sender of this.senders.values()) sender.stop();
    this.senders.clear();
  }

  /** Something changed outside (a leave began): run the loop if there is work. */
  wake(): void {
    this.schedule();
  }

  /** Completions the claimant may clear from the ring. */
  completed(): ReadonlySet<string> {
    return this.reported;
  }

  /** A new ring was adopted: stop senders it no longer lists, forget cleared state, drop partitions handed off. */
  ringChanged(ring: Ring): void {
    const previous = this.lastRing;
    this.lastRing = ring;
    const pending = new Set((ring.pending ?? []).map(transferKey));
    for (const [key, sender] of this.senders) {
      if (!pending.has(key)) {
        sender.stop();
        this.senders.delete(key);
      }
    }
    for (const key of this.verified.keys()) if (!pending.has(key)) this.verified.delete(key);
    for (const key of this.reported) if (!pending.has(key)) this.reported.delete(key);
    const incoming = new Set((ring.pending ?? []).filter((t) => t.to === this.deps.self).map((t) => `${t.partition}:${t.from}`));
    for (const key of this.inbound.keys()) if (!incoming.has(key)) this.inbound.delete(key);
    for (const t of previous?.pending ?? []) {
      if (t.from === this.deps.self && !pending.has(transferKey(t))) this.dropIfHandedOff(t.partition);
    }
    this.schedule();
  }

  /** Peer messages of the handoff protocol. */
  async handle(message: TransferRequest): Promise<PeerReply> {
    switch (message.type) {
      case 'transfer-batch': {
        const changed = await applyBatch(this.deps.replica, message.partition, message.keys, message.objects);
        this.tallyInbound(message);
        return { type: 'transfer-ack', changed };
      }
      case 'transfer-done':
        this.reported.add(transferKey(message));
        this.schedule();
        return { type: 'ack' };
    }
  }

  /** Transfers listed by the ring that involve this node, and progress of the ones it is sending. */
  status() {
    const ring = this.deps.ring();
    const mine = (ring?.pending ?? []).filter((t) => t.from === this.deps.self || t.to === this.deps.self);
    const active = this.senders.size;
    return {
      active,
      pending: Math.max(0, mine.length - active),
      ringPending: ring?.pending?.length ?? 0,
      outbound: [...this.senders.values()].map((s) => ({ ...s.progress })),
      inbound: [...this.inbound.values()],
      verifiedAwaitingRing: this.verified.size,
      recent: this.recent.slice(),
      ...this.counters,
    };
  }

  private schedule(): void {
    if (!this.running || this.timer !== undefined || !this.hasWork()) return;
    this.timer = this.deps.clock.setTimer(this.deps.config.tickMs, () => {
      this.timer = undefined;
      this.tick();
      this.schedule();
    });
  }

  private hasWork(): boolean {
    return this.ownPending().length > 0 || this.verified.size > 0 || this.reported.size > 0 || this.deps.busy();
  }

  private ownPending(): PendingTransfer[] {
    return (this.deps.ring()?.pending ?? []).filter((t) => t.from === this.deps.self);
  }

  private tick(): void {
    if (!this.running) return;
    this.fill();
    for (const [key, ticks] of this.verified) {
      if (ticks % REPORT_EVERY_TICKS === 0) this.report(key);
      this.verified.set(key, ticks + 1);
    }
    if (this.reported.size > 0) this.deps.onCompleted();
    this.deps.onTick();
  }

  /** Start senders for our pending transfers, up to concurrentMax. */
  private fill(): void {
    for (const t of this.ownPending()) {
      if (this.senders.size >= this.deps.config.concurrentMax) break;
      const key = transferKey(t);
      if (!this.senders.has(key) && !this.verified.has(key)) this.launch(t, key);
    }
  }

  private launch(t: PendingTransfer, key: string): void {
    const sender = new PartitionSender(this.deps, t);
    this.senders.set(key, sender);
    sender.run().then(
      (outcome) => {
        if (this.senders.get(key) !== sender) return;
        this.senders.delete(key);
        this.counters.keysSent += sender.progress.keys;
        this.counters.bytesSent += sender.progress.bytes;
        this.remember(sender.progress);
        if (outcome === 'verified') {
          this.counters.verified++;
          this.verified.set(key, 0);
          this.report(key);
        } else if (outcome === 'exhausted') {
          this.counters.exhausted++;
        }
        // The next transfer starts at once, not at the next tick (an exhausted one waits for a tick).
        if (this.running && outcome === 'verified') this.fill();
        this.schedule();
      },
      () => {
        if (this.senders.get(key) === sender) this.senders.delete(key);
      },
    );
  }

  /** Tell the claimant a transfer is verified (ourselves included). Lost reports are repeated by the tick. */
  private report(key: string): void {
    const t = (this.deps.ring()?.pending ?? []).find((p) => transferKey(p) === key);
    const claimant = this.deps.claimant();
    if (t === undefined || claimant === undefined) return;
    if (claimant === this.deps.self) {
      this.reported.add(key);
      return;
    }
    const message = { type: 'transfer-done' as const, partition: t.partition, from: t.from, to: t.to };
    this.deps.transport.request(claimant, message, this.deps.config.requestTimeoutMs).catch(() => undefined);
  }

  /** Only a partition this node neither serves nor still hands off is dropped; checked again at every step. */
  private dropIfHandedOff(partition: number): void {
    const droppable = (): boolean => {
      const ring = this.deps.ring();
      if (ring === undefined || this.deps.primaries(partition).includes(this.deps.self)) return false;
      return !(ring.pending ?? []).some((t) => t.partition === partition && t.from === this.deps.self);
    };
    if (!droppable()) return;
    this.counters.partitionsDropped++;
    dropPartition(this.deps.store, partition, this.deps.config.dropKeysPerStep, droppable).then(
      (removed) => {
        this.counters.keysDropped += removed;
      },
      () => undefined,
    );
  }

  private tallyInbound(message: Extract<TransferRequest, { type: 'transfer-batch' }>): void {
    this.counters.batchesReceived++;
    this.counters.keysReceived += message.keys.length;
    const key = `${message.partition}:${message.from}`;
    let tally = this.inbound.get(key);
    if (tally === undefined) {
      if (this.inbound.size >= INBOUND_MAX) return;
      tally = { partition: message.partition, from: message.from, keys: 0, batches: 0 };
      this.inbound.set(key, tally);
    }
    tally.keys += message.keys.length;
    tally.batches++;
  }

  private remember(progress: TransferProgress): void {
    this.recent.push({ ...progress });
    if (this.recent.length > RECENT_MAX) this.recent.shift();
  }
}
