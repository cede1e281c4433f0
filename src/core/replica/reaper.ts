import type { Clock, TimerId } from '../../ports/clock.js';
import type { Store } from '../../ports/store.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId } from '../messages.js';
import type { Placement } from '../ring/placement.js';
import { fromWire, toWire, unpackObject } from '../version/codec.js';
import { equalObjects, isDeleted } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';

export interface ReaperConfig {
  /** A tombstone younger than this is never reaped (`--tombstone-grace`). */
  graceMs: number;
  roundIntervalMs: number;
  /** Keys examined per round (the scan is the cost; bounded so requests never starve). */
  scanKeysPerRound: number;
  /** Tombstones reaped per round. */
  reapsPerRoundMax: number;
  requestTimeoutMs: number;
}

export const REAPER_DEFAULTS: ReaperConfig = {
  graceMs: 60 * 60 * 1000,
  roundIntervalMs: 1000,
  scanKeysPerRound: 512,
  reapsPerRoundMax: 64,
  requestTimeoutMs: 5000,
};

export interface ReaperDeps {
  self: NodeId;
  store: Store;
  transport: Transport;
  clock: Clock;
  placement: Placement;
  isAvailable(node: NodeId): boolean;
}

/**
 * Removes tombstones once they are older than the grace period and every
 * primary holds the very same one. Each partition is swept by its first
 * primary only. A key reaped and written again gets a fresh key epoch
 * (KeyEpochs), so its new dots cannot collide with an old copy's; the
 * remaining risk, a stale hint carrying a pre-delete value delivered after the
 * reap, is bounded by the hint window.
 */
export class TombstoneReaper {
  private timer: TimerId | undefined;
  private stopped = false;
  private running = false;
  private partition = 0;
  private afterKey: string | undefined;
  reaped = 0;
  skipped = 0;

  constructor(
    private readonly deps: ReaperDeps,
    private readonly config: ReaperConfig = REAPER_DEFAULTS,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
  }

  /** One sweep step; resolves when its reaps are done. */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const candidates = this.collect();
      for (const { partition, key, object } of candidates) await this.reap(partition, key, object);
    } finally {
      this.running = false;
    }
  }

  /** A peer asks us to drop our copy of a tombstone: only if we hold exactly that tombstone. */
  async reapLocal(partition: number, key: string, wire: unknown): Promise<boolean> {
    const expected = fromWire(wire);
    const local = this.deps.store.get(partition, key);
    if (local === undefined || !isDeleted(local) || !equalObjects(local, expected)) return false;
    await this.deps.store.remove(partition, key);
    return true;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimer(this.config.roundIntervalMs, () => {
      void this.round().finally(() => this.schedule());
    });
  }

  private collect(): Array<{ partition: number; key: string; object: VersionedObject }> {
    const out: Array<{ partition: number; key: string; object: VersionedObject }> = [];
    const partitions = this.deps.placement.ring.partitions;
    let budget = this.config.scanKeysPerRound;
    for (let visited = 0; visited < partitions && budget > 0 && out.length < this.config.reapsPerRoundMax; ) {
      // A partition being handed off is not reaped: the old owner's copy could bring a reaped key back through the stream.
      const where = this.deps.placement.preflist(this.partition);
      if (where.primaries[0] !== this.deps.self || where.pending !== undefined) {
        this.nextPartition(partitions);
        visited++;
        continue;
      }
      const page = this.deps.store.scan(this.partition, this.afterKey, budget);
      budget -= page.length;
      for (const { key, object } of page) if (this.expired(object) && out.length < this.config.reapsPerRoundMax) out.push({ partition: this.partition, key, object });
      if (page.length === 0 || budget > 0) {
        this.nextPartition(partitions);
        visited++;
      } else {
        this.afterKey = page[page.length - 1]!.key;
      }
    }
    return out;
  }

  private nextPartition(partitions: number): void {
    this.partition = (this.partition + 1) % partitions;
    this.afterKey = undefined;
  }

  private expired(object: VersionedObject): boolean {
    if (object.siblings.length === 0 || !isDeleted(object)) return false;
    let newest = 0;
    for (const s of object.siblings) newest = Math.max(newest, s.lastModifiedMs);
    return this.deps.clock.now() - newest >= this.config.graceMs;
  }

  private async reap(partition: number, key: string, object: VersionedObject): Promise<void> {
    const others = this.deps.placement.preflist(partition).primaries.filter((id) => id !== this.deps.self);
    if (!others.every((id) => this.deps.isAvailable(id))) return void this.skipped++;
    const wire = toWire(object);
    try {
      const copies = await Promise.all(others.map((id) => this.deps.transport.request(id, { type: 'read', partition, key }, this.config.requestTimeoutMs)));
      const allSame = copies.every((r) => r.type === 'object' && r.packed instanceof Uint8Array && equalObjects(unpackObject(r.packed), object));
      if (!allSame) return void this.skipped++;
      await Promise.all(others.map((id) => this.deps.transport.request(id, { type: 'reap', partition, key, object: wire }, this.config.requestTimeoutMs)));
      if (await this.reapLocal(partition, key, wire)) this.reaped++;
    } catch {
      this.skipped++;
    }
  }
}
