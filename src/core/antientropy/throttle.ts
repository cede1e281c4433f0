import { assert } from '../assert.js';

/**
 * A token bucket over bytes: `bytesPerSecond` refill, one second of burst.
 * `take` charges bytes already moved (or about to be) and returns how long the
 * caller should wait before moving more, so a busy exchange slows down rather
 * than crowding out foreground traffic. Time comes from the caller's clock.
 */
export class ByteThrottle {
  private tokens: number;
  private lastMs: number | undefined;

  constructor(private readonly bytesPerSecond: number) {
    assert(bytesPerSecond > 0, 'throttle: rate must be positive');
    this.tokens = bytesPerSecond;
  }

  /** Charges `bytes` at time `nowMs`; returns the wait in ms before the next charge (0 when within budget). */
  take(bytes: number, nowMs: number): number {
    assert(bytes >= 0, 'throttle: negative bytes');
    if (this.lastMs !== undefined && nowMs > this.lastMs) {
      this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((nowMs - this.lastMs) * this.bytesPerSecond) / 1000);
    }
    this.lastMs = Math.max(this.lastMs ?? nowMs, nowMs);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}
