import type { Store } from '../../ports/store.js';
import type { ActorId, VersionVector } from './types.js';

/** Epochs leased per durable lease record: one meta write per this many new epochs. */
export const EPOCH_LEASE_BLOCK = 100_000;
const META_EPOCH_LEASE = 'epoch-lease';

/**
 * Key epochs (as in Riak KV 2.x): the actor a node mints a key's dots with is
 * `${nodeActor}:${epoch}`. While a node holds a key it keeps using the epoch
 * found in that key's vector, so counters stay contiguous and the vector never
 * claims a dot the object does not know. When it holds nothing for the key
 * (first write, a fallback whose hints were handed off, a reaped tombstone) it
 * cannot know which of its own dots exist elsewhere, so it starts a fresh
 * epoch: its new dot can neither collide with nor falsely cover an old one.
 *
 * Epochs come from a counter leased in blocks: the persisted lease is above
 * every epoch handed out, so after a crash numbering resumes above them.
 */
export class KeyEpochs {
  private next: number;
  private leased: number;
  private renewing: Promise<void> | undefined;
  /** Resolves once the first lease of this run is durable; `isReady` saves an await per write. */
  readonly ready: Promise<void>;
  isReady = false;
  /** Fresh epochs started (keys this node began writing without a local copy). */
  started = 0;

  constructor(
    private readonly nodeActor: string,
    private readonly store: Store,
  ) {
    const saved = store.getMeta(META_EPOCH_LEASE);
    const lease = saved === undefined || saved.byteLength !== 8 ? 0 : Number(Buffer.from(saved).readBigUInt64BE(0));
    this.next = lease;
    this.leased = lease;
    this.ready = this.renew().then(() => {
      this.isReady = true;
    });
  }

  /** The actor to mint `vv`'s next dot with: this node's newest epoch in it, or a fresh one. */
  actorFor(vv: VersionVector | undefined): ActorId {
    const prefix = `${this.nodeActor}:`;
    let best: ActorId | undefined;
    let bestEpoch = -1;
    for (const [actor] of vv ?? []) {
      if (!actor.startsWith(prefix)) continue;
      const epoch = Number.parseInt(actor.slice(prefix.length), 36);
      if (epoch > bestEpoch) {
        bestEpoch = epoch;
        best = actor;
      }
    }
    return best ?? this.fresh();
  }

  private fresh(): ActorId {
    const epoch = this.next++;
    this.started++;
    if (this.leased - this.next < EPOCH_LEASE_BLOCK / 2) void this.renew().catch(() => undefined);
    return `${this.nodeActor}:${epoch.toString(36)}`;
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      const lease = this.next + EPOCH_LEASE_BLOCK;
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(BigInt(lease), 0);
      try {
        await this.store.putMeta(META_EPOCH_LEASE, bytes);
        this.leased = Math.max(this.leased, lease);
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }
}
