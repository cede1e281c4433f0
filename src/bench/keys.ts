/**
 * Key choice for the YCSB-style workloads: a small seeded PRNG, YCSB's FNV-1a
 * 64-bit hash, and its ScrambledZipfianGenerator (zipfian constant 0.99 over a
 * huge item space, then hashed onto the record count, so the hot keys are
 * scattered over the key space instead of being the first records).
 *
 * Everything is plain double arithmetic (no BigInt on the per-operation path).
 */

import { Sfc32 } from '../sim/sfc32.js';

const TWO_32 = 4294967296;

/** sfc32, one per client, seeded, so runs are repeatable. */
export class Rng extends Sfc32 {
  constructor(seed: number) {
    super(0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0);
    for (let i = 0; i < 15; i++) this.u32();
  }

  nextUint32(): number {
    return this.u32();
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextDouble() * n);
  }
}

/**
 * YCSB's `Utils.fnvhash64(long)`: FNV-1a over the 8 little-endian bytes of a
 * non-negative long, then `Math.abs` of the signed result; returned modulo `m`
 * (YCSB's `% itemcount`). Exact for 0 ≤ value < 2^53 and m < 2^21.
 */
export function fnvhash64Mod(value: number, m: number): number {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  const vlo = value % TWO_32;
  const vhi = Math.floor(value / TWO_32);
  for (let i = 0; i < 8; i++) {
    const octet = i < 4 ? (vlo >>> (8 * i)) & 0xff : (vhi >>> (8 * (i - 4))) & 0xff;
    lo = (lo ^ octet) >>> 0;
    // (hi:lo) * 0x100000001B3 mod 2^64 = (hi:lo) * 0x1B3 + (lo << 40)
    const l = lo * 0x1b3;
    const carry = Math.floor(l / TWO_32);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = l >>> 0;
  }
  if (hi >= 0x80000000) {
    // Math.abs of a negative long: two's complement negation.
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
  }
  return ((hi % m) * (TWO_32 % m) + (lo % m)) % m;
}

/** YCSB's `buildKeyName` with `insertorder=hashed`: "user" + fnvhash64(keynum). Only used to name keys. */
export function ycsbKeyName(keynum: number): string {
  return `user${fnvhash64String(keynum)}`;
}

/** fnvhash64 as a decimal string (BigInt is fine here: called once per record, not per operation). */
function fnvhash64String(value: number): string {
  let h = 0xcbf29ce484222325n;
  let v = BigInt(value);
  for (let i = 0; i < 8; i++) {
    h ^= v & 0xffn;
    v >>= 8n;
    h = BigInt.asUintN(64, h * 1099511628211n);
  }
  const signed = BigInt.asIntN(64, h);
  return (signed < 0n ? -signed : signed).toString();
}

/** YCSB ZipfianGenerator constants for its scrambled variant (zipfian constant 0.99). */
export const YCSB_ZIPFIAN_CONSTANT = 0.99;
const SCRAMBLED_ITEM_COUNT = 10_000_000_000;
/** zeta(10^10, 0.99), precomputed by YCSB (ScrambledZipfianGenerator.ZETAN). */
const SCRAMBLED_ZETAN = 26.46902820178302;

/**
 * YCSB ScrambledZipfianGenerator(0, records-1, 0.99): draw from a zipfian over
 * 10^10 items (popular items first), then scatter with fnvhash64 onto
 * [0, records). The hottest record gets ~1/zetan ≈ 3.8 % of all draws.
 */
export class ScrambledZipfian {
  private readonly items = SCRAMBLED_ITEM_COUNT + 1; // ZipfianGenerator(0, ITEM_COUNT): max - min + 1
  private readonly theta = YCSB_ZIPFIAN_CONSTANT;
  private readonly zetan = SCRAMBLED_ZETAN;
  private readonly alpha = 1 / (1 - YCSB_ZIPFIAN_CONSTANT);
  private readonly eta: number;
  private readonly half: number;

  constructor(
    private readonly records: number,
    private readonly rng: Rng,
  ) {
    if (!Number.isInteger(records) || records < 1 || records >= 1 << 21) throw new RangeError(`records must be in 1..${(1 << 21) - 1}`);
    const zeta2theta = 1 + Math.pow(0.5, this.theta);
    this.eta = (1 - Math.pow(2 / this.items, 1 - this.theta)) / (1 - zeta2theta / this.zetan);
    this.half = 1 + Math.pow(0.5, this.theta);
  }

  /** The raw zipfian draw (0 is the most popular item). */
  nextZipf(): number {
    const u = this.rng.nextDouble();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < this.half) return 1;
    return Math.floor(this.items * Math.pow(this.eta * u - this.eta + 1, this.alpha));
  }

  /** A record index in [0, records). */
  next(): number {
    return fnvhash64Mod(this.nextZipf(), this.records);
  }
}
