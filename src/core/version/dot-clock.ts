import type { Store } from '../../ports/store.js';

/** Counters leased per durable lease record: one meta write per this many minted dots. */
export const DOT_LEASE_BLOCK = 1_000_000;
const META_DOT_LEASE = 'dot-lease';

/**
 * The actor's counter across all keys. Every dot this node mints is above every
 * dot it minted before, for any key, so a key whose tombstone was reaped can
 * never be given a dot that an old copy elsewhere still carries.
 *
 * Durability by leases: the persisted lease is always above every counter
 * minted, so after a crash minting resumes at the lease, never below. Minting
 * waits (`ready`) until the first lease of this run is durable.
 */
export class DotClock {
  private last: number;
  private leased: number;
  private renewing: Promise<void> | undefined;
  /** Resolves once minting is safe; `isReady` avoids an await per write afterwards. */
  readonly ready: Promise<void>;
  isReady = false;

  constructor(private readonly store: Store) {
    const saved = store.getMeta(META_DOT_LEASE);
    const lease = saved === undefined || saved.byteLength !== 8 ? 0 : Number(Buffer.from(saved).readBigUInt64BE(0));
    this.last = lease;
    this.leased = lease;
    this.ready = this.renew().then(() => {
      this.isReady = true;
    });
  }

  /** The floor for the next dot: the last counter minted. */
  floor(): number {
    return this.last;
  }

  /** Records that `counter` was minted; renews the lease in the background when half used. */
  minted(counter: number): void {
    if (counter > this.last) this.last = counter;
    if (this.leased - this.last < DOT_LEASE_BLOCK / 2) void this.renew().catch(() => undefined);
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      const next = this.last + DOT_LEASE_BLOCK;
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(BigInt(next), 0);
      try {
        await this.store.putMeta(META_DOT_LEASE, bytes);
        this.leased = Math.max(this.leased, next);
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }
}
