import { assert } from '../assert.js';
import { toBig } from './contribution.js';
import { BRANCHES, branchOf, SEGMENTS, SEGMENTS_PER_BRANCH, slotOf } from './tree-shape.js';

/**
 * The Merkle tree of one partition, TicTac style: a segment's hash is the XOR
 * of its keys' contributions, a branch's the XOR of its segments, the root the
 * XOR of the branches. XOR makes every update O(1): a changed key XORs its old
 * contribution out and its new one in at all three levels, and the order in
 * which keys arrive does not matter (a rebuilt tree equals an updated one).
 *
 * It also indexes every key by segment, so an exchange lists a segment's keys
 * without reading the store. A pure data structure: the caller hashes (see
 * contribution.ts).
 *
 * A 64-bit hash is kept as two int32 words, high then low (a "hash pair"):
 * levels are Int32Arrays of pairs and a key's contribution sits in a pooled
 * Int32Array, its index map holding only the slot number (a small integer,
 * no heap object), so a write allocates nothing once its key is indexed.
 */
export class PartitionTree {
  private rootHi = 0;
  private rootLo = 0;
  private readonly branchHashes = new Int32Array(BRANCHES * 2);
  /** Segment hash pairs per branch, allocated on the branch's first key. */
  private readonly leaves: Array<Int32Array | undefined> = new Array<Int32Array | undefined>(BRANCHES).fill(undefined);
  /** Per branch, per slot: key → contribution slot in `pool`. */
  private readonly index: Array<Array<Map<string, number> | undefined> | undefined> = new Array<Array<Map<string, number> | undefined> | undefined>(BRANCHES).fill(undefined);
  /** Contribution pairs by slot; freed slots are reused. */
  private pool = new Int32Array(2 * 64);
  private poolUsed = 0;
  private readonly freeSlots: number[] = [];
  private keyCount = 0;

  /** Root hash (unsigned 64 bits). */
  get root(): bigint {
    return toBig(this.rootHi, this.rootLo);
  }

  get keys(): number {
    return this.keyCount;
  }

  /** Writes the root's pair at out[at], out[at + 1]. */
  rootInto(out: Int32Array, at: number): void {
    out[at] = this.rootHi;
    out[at + 1] = this.rootLo;
  }

  /** Sets `key`'s contribution (hi, lo) in `segment`. */
  put(segment: number, key: string, hi: number, lo: number): void {
    checkSegment(segment);
    const branch = branchOf(segment);
    const slot = slotOf(segment);
    const maps = (this.index[branch] ??= new Array<Map<string, number> | undefined>(SEGMENTS_PER_BRANCH).fill(undefined));
    let keys = maps[slot];
    if (keys === undefined) maps[slot] = keys = new Map();
    let at = keys.get(key);
    let dHi = hi;
    let dLo = lo;
    if (at === undefined) {
      at = this.allocate();
      keys.set(key, at);
      this.keyCount++;
    } else {
      const oldHi = this.pool[2 * at]!;
      const oldLo = this.pool[2 * at + 1]!;
      if (oldHi === hi && oldLo === lo) return;
      dHi ^= oldHi;
      dLo ^= oldLo;
    }
    this.pool[2 * at] = hi;
    this.pool[2 * at + 1] = lo;
    this.xor(branch, slot, dHi, dLo);
  }

  /** Removes `key` from `segment` (nothing when absent). */
  delete(segment: number, key: string): void {
    checkSegment(segment);
    const branch = branchOf(segment);
    const slot = slotOf(segment);
    const keys = this.index[branch]?.[slot];
    const at = keys?.get(key);
    if (at === undefined) return;
    keys!.delete(key);
    if (keys!.size === 0) this.index[branch]![slot] = undefined;
    this.keyCount--;
    this.freeSlots.push(at);
    this.xor(branch, slot, this.pool[2 * at]!, this.pool[2 * at + 1]!);
  }

  /** Sets `key`'s contribution as one unsigned 64-bit number; undefined removes the key (tests, tools). */
  set(segment: number, key: string, contribution: bigint | undefined): void {
    if (contribution === undefined) this.delete(segment, key);
    else this.put(segment, key, Number(BigInt.asUintN(32, contribution >> 32n)) | 0, Number(BigInt.asUintN(32, contribution)) | 0);
  }

  contributionOf(segment: number, key: string): bigint | undefined {
    const at = this.keysOf(segment)?.get(key);
    return at === undefined ? undefined : toBig(this.pool[2 * at]!, this.pool[2 * at + 1]!);
  }

  has(segment: number, key: string): boolean {
    return this.keysOf(segment)?.has(key) === true;
  }

  /** How many keys `segment` holds. */
  keysInSegment(segment: number): number {
    return this.keysOf(segment)?.size ?? 0;
  }

  /** Calls `visit` for every key of `segment` with its contribution pair. */
  forEachIn(segment: number, visit: (key: string, hi: number, lo: number) => void): void {
    const keys = this.keysOf(segment);
    if (keys === undefined) return;
    for (const [key, at] of keys) visit(key, this.pool[2 * at]!, this.pool[2 * at + 1]!);
  }

  /** Every (segment, key, contribution), by segment (tests and diagnostics). */
  *entries(): IterableIterator<[number, string, bigint]> {
    for (let segment = 0; segment < SEGMENTS; segment++) {
      const keys = this.keysOf(segment);
      if (keys !== undefined) for (const [key, at] of keys) yield [segment, key, toBig(this.pool[2 * at]!, this.pool[2 * at + 1]!)];
    }
  }

  branchHash(branch: number): bigint {
    return toBig(this.branchHashes[2 * branch] ?? 0, this.branchHashes[2 * branch + 1] ?? 0);
  }

  segmentHash(segment: number): bigint {
    const leaf = this.leaves[branchOf(segment)];
    const slot = slotOf(segment);
    return leaf === undefined ? 0n : toBig(leaf[2 * slot]!, leaf[2 * slot + 1]!);
  }

  /** The branch level: 128 hash pairs (a live view: encode or compare it before the next write). */
  branchLevel(): Int32Array {
    return this.branchHashes;
  }

  /** One branch's 128 segment hash pairs (a live view), undefined when the branch never held a key. */
  segmentLevel(branch: number): Int32Array | undefined {
    return this.leaves[branch];
  }

  private keysOf(segment: number): Map<string, number> | undefined {
    return this.index[branchOf(segment)]?.[slotOf(segment)];
  }

  private allocate(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    if (2 * this.poolUsed === this.pool.length) {
      const bigger = new Int32Array(this.pool.length * 2);
      bigger.set(this.pool);
      this.pool = bigger;
    }
    return this.poolUsed++;
  }

  private xor(branch: number, slot: number, dHi: number, dLo: number): void {
    if ((dHi | dLo) === 0) return;
    const leaf = (this.leaves[branch] ??= new Int32Array(SEGMENTS_PER_BRANCH * 2));
    leaf[2 * slot] = leaf[2 * slot]! ^ dHi;
    leaf[2 * slot + 1] = leaf[2 * slot + 1]! ^ dLo;
    const branches = this.branchHashes;
    branches[2 * branch] = branches[2 * branch]! ^ dHi;
    branches[2 * branch + 1] = branches[2 * branch + 1]! ^ dLo;
    this.rootHi ^= dHi;
    this.rootLo ^= dLo;
  }
}

function checkSegment(segment: number): void {
  // The message is built only on failure: this runs on every write.
  if (!(Number.isInteger(segment) && segment >= 0 && segment < SEGMENTS)) assert(false, `tree: bad segment ${segment}`);
}
