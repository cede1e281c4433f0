import { assert } from '../core/assert.js';
import type { Random } from '../ports/random.js';
import { Sfc32 } from './sfc32.js';

/**
 * A small seeded PRNG (sfc32, Chris Doty-Humphrey's "small fast counting"
 * generator: 128-bit state, passes PractRand to large sizes) implementing the
 * Random port.
 *
 * Streams are split by name: `Prng.root(seed).fork('network')` depends only on
 * the seed and the path "network", never on how many numbers another stream
 * drew. Adding a draw in the nemesis therefore does not reshuffle the network's
 * fates, and each node gets its own stream.
 */
export class Prng extends Sfc32 implements Random {
  private constructor(
    readonly seed: number,
    readonly path: string,
  ) {
    super(...cyrb128(`dynakv-sim/${seed}/${path}`));
    // Warm-up: the first outputs of sfc32 are weakly mixed.
    for (let i = 0; i < WARMUP_ROUNDS; i++) this.u32();
  }

  static root(seed: number): Prng {
    assert(Number.isSafeInteger(seed) && seed >= 0, `prng: seed must be a non-negative safe integer, got ${seed}`);
    return new Prng(seed, 'root');
  }

  /** An independent stream named `name` under this one (a function of seed and path only). */
  fork(name: string): Prng {
    assert(name.length > 0 && !name.includes('/'), 'prng: stream names are non-empty and contain no "/"');
    return new Prng(this.seed, this.path === 'root' ? name : `${this.path}/${name}`);
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.u32() / TWO_POW_32;
  }

  /** An integer in [0, bound). */
  int(bound: number): number {
    assert(Number.isInteger(bound) && bound >= 0 && bound <= TWO_POW_32, `prng: bad bound ${bound}`);
    if (bound <= 1) return 0;
    const value = Math.floor(this.next() * bound);
    assert(value >= 0 && value < bound, 'prng: int out of range');
    return value;
  }

  /** An integer in [min, max], both inclusive. */
  between(min: number, max: number): number {
    assert(Number.isInteger(min) && Number.isInteger(max) && min <= max, `prng: bad range ${min}..${max}`);
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. Draws even when p is 0 or 1, so the stream's shape does not depend on settings. */
  chance(p: number): boolean {
    assert(p >= 0 && p <= 1, `prng: bad probability ${p}`);
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'prng: pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Index chosen with probability proportional to its weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) {
      assert(w >= 0 && Number.isFinite(w), 'prng: bad weight');
      total += w;
    }
    assert(total > 0, 'prng: all weights are zero');
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }
}

const TWO_POW_32 = 0x1_0000_0000;
const WARMUP_ROUNDS = 15;

/** cyrb128: a fast 128-bit string hash, used only to seed streams. */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}
