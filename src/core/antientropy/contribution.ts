import type { VersionedObject } from '../version/types.js';
import { SEGMENTS } from './tree-shape.js';

/**
 * The hashes of the Merkle trees: a key's segment and a key's contribution,
 * computed on every write, so they are built for speed: no digest string, no
 * text encoding, no BigInt. Pure JS, so every node and the simulator compute
 * the same values.
 *
 * Input: the causal identity as a sequence of 32-bit words, written into a
 * reused buffer. A string is its length then its UTF-16 code units, two per
 * word; a counter (a safe integer) is two words; lists are length-prefixed.
 * So the encoding is injective: two different (key, vector, dots, tombstone
 * flags) never give the same words. Value bytes and times do not count: a dot
 * names exactly one value, so equal identities mean equal sibling sets.
 *
 * Function: MurmurHash3 x86_128 (reference algorithm over the words taken as
 * little-endian bytes), 32-bit operations only, so it stays in V8's int32 fast
 * paths. The key is hashed once per write: its 128-bit hash gives the segment
 * (low bits of the first lane) and seeds all four lanes of the object's hash,
 * so the contribution depends on key and object. The contribution is the
 * first two lanes: 64 bits, the strength the trees had with xxhash64 (a
 * collision would hide a difference from anti-entropy).
 */
export class TreeHasher {
  /** The last contribution: high and low 32 bits (as int32; the wire sends them big-endian, hi first). */
  hi = 0;
  lo = 0;
  /** The input words of the current hash (grown on demand, never shrunk). */
  private words = new Int32Array(256);
  /** The last key's 128-bit hash. */
  private readonly keyState = new Int32Array(4);
  private readonly out = new Int32Array(4);

  /** The segment of `key` (low bits of its hash). */
  segmentOf(key: string): number {
    const need = stringWords(key);
    if (need > this.words.length) this.grow(need);
    const n = putString(this.words, 0, key);
    murmur128(this.words, n, 0, 0, 0, 0, this.keyState);
    return this.keyState[0]! & SEGMENT_MASK;
  }

  /**
   * Hashes `key` and, with it as the seed, `object`: returns the segment and
   * leaves the contribution in `hi`/`lo`.
   */
  hash(key: string, object: VersionedObject): number {
    const segment = this.segmentOf(key);
    const vv = object.vv;
    const siblings = object.siblings;
    // Size first, so the loops below write without capacity checks.
    let need = 2;
    for (let i = 0; i < vv.length; i++) need += stringWords(vv[i]![0]) + 2;
    for (let i = 0; i < siblings.length; i++) need += stringWords(siblings[i]!.dot.actor) + 3;
    if (need > this.words.length) this.grow(need);
    const words = this.words;
    let at = 0;
    words[at++] = vv.length;
    for (let i = 0; i < vv.length; i++) {
      const entry = vv[i]!;
      at = putString(words, at, entry[0]);
      at = putCounter(words, at, entry[1]);
    }
    words[at++] = siblings.length;
    for (let i = 0; i < siblings.length; i++) {
      const s = siblings[i]!;
      at = putString(words, at, s.dot.actor);
      at = putCounter(words, at, s.dot.counter);
      words[at++] = s.deleted ? 1 : 0;
    }
    const k = this.keyState;
    murmur128(words, at, k[0]!, k[1]!, k[2]!, k[3]!, this.out);
    this.hi = this.out[0]!;
    this.lo = this.out[1]!;
    return segment;
  }

  /** The contribution as one unsigned 64-bit number (tests, diagnostics). */
  contributionOf(key: string, object: VersionedObject): bigint {
    this.hash(key, object);
    return toBig(this.hi, this.lo);
  }

  private grow(need: number): void {
    let size = this.words.length;
    while (size < need) size *= 2;
    this.words = new Int32Array(size);
  }
}

/** Words a string takes: its length, then two UTF-16 code units per word. */
function stringWords(s: string): number {
  return 1 + ((s.length + 1) >>> 1);
}

function putString(words: Int32Array, at: number, s: string): number {
  const n = s.length;
  words[at++] = n;
  let i = 0;
  for (; i + 1 < n; i += 2) words[at++] = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
  if (i < n) words[at++] = s.charCodeAt(i);
  return at;
}

/** A counter is a positive safe integer (< 2^53): low, then high 32 bits. */
function putCounter(words: Int32Array, at: number, c: number): number {
  words[at] = c >>> 0;
  words[at + 1] = (c / 0x1_0000_0000) | 0;
  return at + 2;
}

const SEGMENT_MASK = SEGMENTS - 1;

/** A (hi, lo) hash as one unsigned 64-bit number. */
export function toBig(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789 | 0;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93 | 0;

/**
 * MurmurHash3_x86_128 of words[0..n) (as 4n little-endian bytes) with the four
 * lanes seeded separately (the reference seeds all four with one 32-bit seed).
 * Writes the four output lanes to `out`.
 */
export function murmur128(words: Int32Array, n: number, s1: number, s2: number, s3: number, s4: number, out: Int32Array): void {
  let h1 = s1 | 0;
  let h2 = s2 | 0;
  let h3 = s3 | 0;
  let h4 = s4 | 0;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k1 = words[i]!;
    let k2 = words[i + 1]!;
    let k3 = words[i + 2]!;
    let k4 = words[i + 3]!;

    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;

    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;

    k3 = Math.imul(k3, C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, C4);
    h3 = (h3 << 15) | (h3 >>> 17);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;

    k4 = Math.imul(k4, C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, C1);
    h4 = (h4 << 13) | (h4 >>> 19);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const tail = n - blocks;
  if (tail >= 3) {
    let k3 = Math.imul(words[i + 2]!, C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, C4);
  }
  if (tail >= 2) {
    let k2 = Math.imul(words[i + 1]!, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
  }
  if (tail >= 1) {
    let k1 = Math.imul(words[i]!, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
  }
  const bytes = n * 4;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b | 0);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35 | 0);
  return h ^ (h >>> 16);
}
