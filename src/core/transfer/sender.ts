import type { Clock } from '../../ports/clock.js';
import type { Store } from '../../ports/store.js';
import type { Transport } from '../../ports/transport.js';
import { assert } from '../assert.js';
import type { NodeId } from '../messages.js';
import type { PendingTransfer } from '../ring/ring.js';
import { packObject, toWire, type WireObject } from '../version/codec.js';
import type { TransferConfig } from './config.js';

export interface SenderDeps {
  readonly self: NodeId;
  readonly store: Store;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly config: TransferConfig;
}

export type TransferState = 'streaming' | 'retrying' | 'verified' | 'stopped' | 'exhausted';

/** What status shows of one outbound transfer. */
export interface TransferProgress {
  partition: number;
  from: NodeId;
  to: NodeId;
  state: TransferState;
  /** Full passes begun (pass ≥ 2 re-sends everything: the verification pass). */
  pass: number;
  /** Keys and packed bytes acknowledged by the receiver, over all passes. */
  keys: number;
  bytes: number;
  /** Keys the receiver's copy changed by, in the current pass. */
  changed: number;
  /** Bytes per second since the transfer started. */
  rateBytesPerSecond: number;
  elapsedMs: number;
  failures: number;
}

export type SenderOutcome = 'verified' | 'stopped' | 'exhausted';

interface Batch {
  keys: string[];
  objects: WireObject[];
  bytes: number;
}

/**
 * Streams one partition to its new primary (riak_core's handoff sender): an
 * ordered range scan in bounded, throttled batches, each merged at the
 * receiver with Replica.apply and acknowledged. The cursor is the last
 * acknowledged key, kept in memory: a failed batch is retried after a delay
 * from that cursor, so either side may restart (a restarted sender starts
 * from the beginning, which merging makes harmless).
 *
 * Verification: passes repeat until one whole pass changed nothing at the
 * receiver (every acknowledged batch reported `changed` 0), i.e. the receiver
 * held, for every key the sender has, a version that covers the sender's.
 * Only then is the transfer verified and may the sender drop its copy.
 */
export class PartitionSender {
  private cursor: string | undefined;
  private stopped = false;
  private lastSendMs = -Infinity;
  private readonly startedMs: number;
  readonly progress: TransferProgress;

  constructor(
    private readonly deps: SenderDeps,
    readonly transfer: PendingTransfer,
  ) {
    assert(transfer.from === deps.self, 'transfer: only the old primary sends');
    this.startedMs = deps.clock.monotonicMs();
    this.progress = { partition: transfer.partition, from: transfer.from, to: transfer.to, state: 'streaming', pass: 1, keys: 0, bytes: 0, changed: 0, rateBytesPerSecond: 0, elapsedMs: 0, failures: 0 };
  }

  stop(): void {
    this.stopped = true;
    this.progress.state = 'stopped';
  }

  async run(): Promise<SenderOutcome> {
    const { config } = this.deps;
    // Bounded: each step either advances the cursor, ends a pass (≤ passesMax), or waits retryDelayMs; stop() ends it.
    while (!this.stopped) {
      const batch = this.nextBatch();
      if (batch === undefined) {
        if (this.progress.changed === 0) return this.finish('verified');
        if (this.progress.pass >= config.passesMax) return this.finish('exhausted');
        this.progress.pass++;
        this.progress.changed = 0;
        this.cursor = undefined;
        continue;
      }
      await this.throttle();
      if (this.stopped) break;
      const changed = await this.send(batch);
      if (changed === undefined) {
        this.progress.failures++;
        this.progress.state = 'retrying';
        await this.sleep(config.retryDelayMs);
        continue;
      }
      this.progress.state = 'streaming';
      this.cursor = batch.keys[batch.keys.length - 1];
      this.progress.changed += changed;
      this.progress.keys += batch.keys.length;
      this.progress.bytes += batch.bytes;
      this.updateRate();
    }
    return 'stopped';
  }

  /** The next range after the cursor, bounded by keys and bytes (at least one key). */
  private nextBatch(): Batch | undefined {
    const { keysPerBatchMax, bytesPerBatchMax } = this.deps.config;
    const entries = this.deps.store.scan(this.transfer.partition, this.cursor, keysPerBatchMax);
    if (entries.length === 0) return undefined;
    const batch: Batch = { keys: [], objects: [], bytes: 0 };
    for (const { key, object } of entries) {
      const size = Buffer.byteLength(key) + packObject(object).length;
      if (batch.keys.length > 0 && batch.bytes + size > bytesPerBatchMax) break;
      batch.keys.push(key);
      batch.objects.push(toWire(object));
      batch.bytes += size;
    }
    assert(batch.keys.length >= 1 && batch.keys.length <= keysPerBatchMax, 'transfer: batch size out of bounds');
    return batch;
  }

  /** Keys the receiver's copy changed by, or undefined when the batch failed (retry from the cursor). */
  private async send(batch: Batch): Promise<number | undefined> {
    const message = { type: 'transfer-batch' as const, partition: this.transfer.partition, from: this.deps.self, pass: this.progress.pass, keys: batch.keys, objects: batch.objects };
    this.lastSendMs = this.deps.clock.monotonicMs();
    try {
      const reply = await this.deps.transport.request(this.transfer.to, message, this.deps.config.requestTimeoutMs);
      if (reply.type !== 'transfer-ack' || !Number.isInteger(reply.changed) || reply.changed < 0) return undefined;
      return reply.changed;
    } catch {
      return undefined;
    }
  }

  /** At most batchesPerSecondMax batches per second. */
  private async throttle(): Promise<void> {
    const intervalMs = 1000 / this.deps.config.batchesPerSecondMax;
    const waitMs = this.lastSendMs + intervalMs - this.deps.clock.monotonicMs();
    if (waitMs > 0) await this.sleep(Math.ceil(waitMs));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimer(ms, resolve));
  }

  private updateRate(): void {
    const elapsedMs = this.deps.clock.monotonicMs() - this.startedMs;
    this.progress.elapsedMs = elapsedMs;
    this.progress.rateBytesPerSecond = elapsedMs > 0 ? Math.round((this.progress.bytes * 1000) / elapsedMs) : 0;
  }

  private finish(outcome: 'verified' | 'exhausted'): SenderOutcome {
    this.updateRate();
    this.progress.state = outcome;
    return outcome;
  }
}
