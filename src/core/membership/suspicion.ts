import type { Clock, TimerId } from '../../ports/clock.js';
import { assert } from '../assert.js';
import type { NodeId } from '../messages.js';

/**
 * Lifeguard's accelerating suspicion timer (memberlist suspicion.go).
 *
 * A suspect is declared dead when its timer runs out. The timer starts at
 * `maxMs` and shrinks towards `minMs` as independent confirmations arrive
 * (other members that suspect it on their own), on a log scale reaching the
 * minimum after `k` confirmations. A member falsely suspected by one slow
 * node thus gets a long time to refute, while a real failure seen by many is
 * declared quickly.
 */

/** Lifeguard's minimum suspicion timeout: mult · max(1, log10 n) · interval (memberlist `suspicionTimeout`). */
export function suspicionTimeoutMs(suspicionMult: number, members: number, probeIntervalMs: number): number {
  assert(suspicionMult >= 1 && probeIntervalMs >= 1, 'suspicion: bad parameters');
  const nodeScale = Math.max(1, Math.log10(Math.max(1, members)));
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}

/** Independent confirmations that bring the timeout down to its minimum: mult − 2, or 0 in clusters too small to provide them. */
export function expectedConfirmations(suspicionMult: number, members: number): number {
  const k = suspicionMult - 2;
  return members - 2 < k ? 0 : Math.max(0, k);
}

/**
 * Time left on a suspicion timer after `confirmations` of `k` expected, with
 * `elapsedMs` already gone (memberlist `remainingSuspicionTime`):
 * timeout = max(min, max − (max − min) · log(c + 1) / log(k + 1)).
 * May be ≤ 0: the timer is already due.
 */
export function remainingSuspicionMs(confirmations: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  assert(minMs <= maxMs && confirmations >= 0, 'suspicion: bad timeout range');
  if (k < 1) return minMs - elapsedMs;
  const fraction = Math.log(confirmations + 1) / Math.log(k + 1);
  const timeoutMs = Math.max(minMs, Math.floor(maxMs - fraction * (maxMs - minMs)));
  return timeoutMs - elapsedMs;
}

export interface SuspicionOptions {
  /** Confirmations expected (see expectedConfirmations). */
  k: number;
  minMs: number;
  maxMs: number;
  /** See MembershipConfig.stallToleranceMs. */
  stallToleranceMs: number;
  /** Extra time granted once when the timer fired late (this process was stalled). */
  stallGraceMs: number;
}

/** One running suspicion of one member; `onTimeout` declares it dead. */
export class Suspicion {
  private readonly confirmedBy = new Set<NodeId>();
  private readonly startedMs: number;
  private timer: TimerId | undefined;
  private dueMs = 0;
  private graced = false;
  private done = false;

  constructor(
    private readonly clock: Clock,
    /** The first suspecter; it does not count as a confirmation, and confirming again is a no-op. */
    from: NodeId,
    private readonly options: SuspicionOptions,
    private readonly onTimeout: () => void,
  ) {
    assert(options.minMs >= 0 && options.minMs <= options.maxMs, 'suspicion: bad timeout range');
    this.confirmedBy.add(from);
    this.startedMs = clock.monotonicMs();
    this.arm(options.k < 1 ? options.minMs : options.maxMs);
  }

  /** Confirmations counted so far (the first suspecter excluded). */
  get confirmations(): number {
    return this.confirmedBy.size - 1;
  }

  /**
   * An independent suspicion by `from`. Returns true when it counted (a new
   * confirmation, below k): the caller re-gossips it so others accelerate too.
   */
  confirm(from: NodeId): boolean {
    if (this.done || this.confirmations >= this.options.k || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    const { k, minMs, maxMs } = this.options;
    const remainingMs = remainingSuspicionMs(this.confirmations, k, this.clock.monotonicMs() - this.startedMs, minMs, maxMs);
    this.arm(Math.max(0, remainingMs));
    return true;
  }

  cancel(): void {
    this.done = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.dueMs = this.clock.monotonicMs() + delayMs;
    this.timer = this.clock.setTimer(delayMs, () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    if (this.done) return;
    // Fired late: this process was stalled, and the suspect's refutation may
    // be waiting in our socket. Grant one grace period before declaring it.
    if (!this.graced && this.clock.monotonicMs() - this.dueMs > this.options.stallToleranceMs) {
      this.graced = true;
      this.arm(this.options.stallGraceMs);
      return;
    }
    this.done = true;
    this.onTimeout();
  }
}
