import { assert } from '../assert.js';

/**
 * Lifeguard's local health multiplier (memberlist awareness.go). A node that
 * misses acks and nacks, or has to refute suspicions of itself, is probably
 * the slow one; it then waits longer before suspecting others, instead of
 * spreading false suspicions. Score 0 is healthy; timeouts scale by score + 1.
 */
export class Awareness {
  private value = 0;

  constructor(private readonly max: number) {
    assert(Number.isInteger(max) && max >= 1, 'awareness: max must be a positive integer');
  }

  get score(): number {
    return this.value;
  }

  /** Adds `delta`, clamped to 0..max-1. */
  apply(delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
    assert(this.value >= 0 && this.value < this.max, 'awareness: score out of range');
  }

  scale(timeoutMs: number): number {
    return timeoutMs * (this.value + 1);
  }
}
