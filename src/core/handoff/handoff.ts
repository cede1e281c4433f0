import type { Clock, TimerId } from '../../ports/clock.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId } from '../messages.js';
import { toWire } from '../version/codec.js';
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
 * Hands hinted writes back to their owners once the membership sees them
 * available: one bounded batch per owner per round, at most one round in
 * flight per owner, each hint dropped only after its owner acknowledged it.
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
      if (this.busy.has(target) || !this.isAvailable(target)) continue;
      void this.deliver(target);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.config.deliveryIntervalMs, () => {
      this.round();
      this.schedule();
    });
  }

  private async deliver(target: NodeId): Promise<void> {
    this.busy.add(target);
    try {
      const batch = this.hints.batch(target, this.config.hintsPerRoundMax);
      const sends = batch.map(async (hint) => {
        const message = { type: 'replicate' as const, partition: hint.partition, key: hint.key, object: toWire(hint.object) };
        const reply = await this.transport.request(target, message, this.config.requestTimeoutMs);
        if (reply.type !== 'ack') throw new Error(`owner ${target} refused a hint: ${reply.type}`);
        await this.hints.acknowledged(hint);
      });
      const results = await Promise.allSettled(sends);
      for (const r of results) if (r.status === 'rejected') this.failures++;
    } finally {
      this.busy.delete(target);
    }
  }
}
