import { randomInt } from 'node:crypto';
import type { Random } from '../ports/random.js';

/** Production randomness. Not for secrets; for probe targets, jitter and epochs. */
export class SystemRandom implements Random {
  next(): number {
    return Math.random();
  }

  int(bound: number): number {
    return bound <= 1 ? 0 : randomInt(bound);
  }
}
