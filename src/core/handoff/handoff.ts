import type { Clock, TimerId } from '../../ports/clock.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId } from '../messages.js';
import { packObject } from '../version/codec.js';
import type { HintQueue } from './hint-queue.js';

export interface HandoffConfig {
  /** How often a fallback looks for owners to hand hints back to. */
  deliveryIntervalMs: number;
  /** Hints sent to one owner per round (the throttle). */
  hintsPerRoundMax: number;
  /** After this long a hint is dropped; anti-entropy repairs what it carried. */
  hintWindowMs: number;
  requestTimeoutMs: number;
}

export const HANDOFF_DEFAULTS: HandoffConfig = {
  deliveryIntervalMs: 1000,
  hintsPerRoundMax: 256,
  hintWindowMs: 3 * 60 * 60 * 1000,
  requestTimeoutMs: 5000,
};

/**
 * Where hints go when their owner has left the cluster for good: it will
 * never come back to take them, so they go to the partition's current
 * primaries instead (plain replicas, merged there).
 */
export interface HintRedirect {
  /** The owner has left the cluster, or is dead and owns nothing under the current ring. */
  gone(node: NodeId): boolean;
  /** The partition's primaries under the current ring. */
  primaries(partition: number): readonly NodeId[];
  /**
   * A live member to hold our hints for `target` (which is down) in our
   * place, because this node is leaving and will not be there to deliver
   * them; undefined while we stay.
   */
  proxy?(target: NodeId): NodeId | undefined;
}

/**
 * Hands hinted writes back to their owners once the membership sees them
 * available: one bounded batch per owner per round, at most one round in
 * flight per owner, each hint dropped only after its owner acknowledged it.
 * Hints for an owner that has left go to the current primaries of their
 * partition instead, and are dropped once every one of them acknowledged.
 * A node that is leaving hands the hints it cannot deliver to a live member,
 * which holds them in its place (riak_core hands fallback data off before a
 * node exits, too).
 */
export class HintedHandoff {
  private timer: TimerId | undefined;
  private readonly busy = new Set<NodeId>();
  private stopped = false;
  rounds = 0;
  failures = 0;

  constructor(
    private readonly hints: HintQueue,
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly isAvailable: (node: NodeId) => boolean,
    private readonly config: HandoffConfig = HANDOFF_DEFAULTS,
    private readonly redirect?: HintRedirect,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
  }

  /** One delivery round (also callable directly by tests and the simulator). */
  round(): void {
    this.rounds++;
    this.hints.expire(this.clock.now(), this.config.hintWindowMs);
    for (const target of this.hints.targets()) {
      if (this.busy.has(target)) continue;
      if (this.isAvailable(target)) void this.deliver(target);
      else if (this.redirect?.gone(target) === true) void this.deliver(target, this.redirect);
      else {
        const proxy = this.redirect?.proxy?.(target);
        if (proxy !== undefined) void this.deliver(target, undefined, proxy);
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.config.deliveryIntervalMs, () => {
      this.round();
      this.schedule();
    });
  }

  /**
   * One batch of `target`'s hints: to `target`; or (redirect: it has left)
   * to their partitions' current primaries; or (proxy: we are leaving) to a
   * live member that keeps them as hints for `target`.
   */
  private async deliver(target: NodeId, redirect?: HintRedirect, proxy?: NodeId): Promise<void> {
    this.busy.add(target);
    try {
      const batch = this.hints.batch(target, this.config.hintsPerRoundMax);
      const sends = batch.map(async (hint) => {
        const message = { type: 'replicate' as const, partition: hint.partition, key: hint.key, object: packObject(hint.object), ...(proxy === undefined ? {} : { hint: target }) };
        const owners = proxy !== undefined ? [proxy] : redirect === undefined ? [target] : redirect.primaries(hint.partition).filter((id) => id !== target);
        if (owners.length === 0) throw new Error(`no owner for a hint of partition ${hint.partition}`);
        for (const owner of owners) {
          if (owner !== target && !this.isAvailable(owner)) throw new Error(`${owner}, to take a hint for ${target}, is unavailable`);
          const reply = await this.transport.request(owner, message, this.config.requestTimeoutMs);
          if (reply.type !== 'ack') throw new Error(`owner ${owner} refused a hint: ${reply.type}`);
        }
        await this.hints.acknowledged(hint);
      });
      const results = await Promise.allSettled(sends);
      for (const r of results) if (r.status === 'rejected') this.failures++;
    } finally {
      this.busy.delete(target);
    }
  }
}
