import { assert } from '../assert.js';
import { BRANCHES, branchOf, SEGMENTS, SEGMENTS_PER_BRANCH, slotOf } from './tree-shape.js';

/**
 * The Merkle tree of one partition, TicTac style: a segment's hash is the XOR
 * of its keys' contributions, a branch's the XOR of its segments, the root the
 * XOR of the branches. XOR makes every update O(1): a changed key XORs its old
 * contribution out and its new one in at all three levels, and the order in
 * which keys arrive does not matter (a rebuilt tree equals an updated one).
 *
 * It also indexes every key by segment (key → contribution), so an exchange
 * lists a segment's keys without reading the store. A pure data structure: the
 * caller hashes (see contribution.ts).
 */
export class PartitionTree {
  private rootHash = 0n;
  private readonly branchHashes = new BigUint64Array(BRANCHES);
  /** Segment hashes per branch, allocated on the branch's first key. */
  private readonly leaves: Array<BigUint64Array | undefined> = new Array<BigUint64Array | undefined>(BRANCHES).fill(undefined);
  private readonly index = new Map<number, Map<string, bigint>>();
  private keyCount = 0;

  get root(): bigint {
    return this.rootHash;
  }

  get keys(): number {
    return this.keyCount;
  }

  /** Sets `key`'s contribution in `segment`; undefined removes the key. */
  set(segment: number, key: string, contribution: bigint | undefined): void {
    assert(Number.isInteger(segment) && segment >= 0 && segment < SEGMENTS, `tree: bad segment ${segment}`);
    const keys = this.index.get(segment);
    const previous = keys?.get(key);
    if (previous === contribution) return;
    let delta = 0n;
    if (previous !== undefined) {
      delta ^= previous;
      keys!.delete(key);
      this.keyCount--;
      if (keys!.size === 0) this.index.delete(segment);
    }
    if (contribution !== undefined) {
      delta ^= contribution;
      let target = this.index.get(segment);
      if (target === undefined) {
        target = new Map();
        this.index.set(segment, target);
      }
      target.set(key, contribution);
      this.keyCount++;
    }
    this.xor(segment, delta);
  }

  contributionOf(segment: number, key: string): bigint | undefined {
    return this.index.get(segment)?.get(key);
  }

  /** The keys of one segment with their contributions (empty when none). */
  keysIn(segment: number): ReadonlyMap<string, bigint> {
    return this.index.get(segment) ?? EMPTY;
  }

  /** Every (segment, key, contribution), by segment (tests and diagnostics). */
  *entries(): IterableIterator<[number, string, bigint]> {
    for (const [segment, keys] of this.index) for (const [key, contribution] of keys) yield [segment, key, contribution];
  }

  branchHash(branch: number): bigint {
    return this.branchHashes[branch] ?? 0n;
  }

  segmentHash(segment: number): bigint {
    return this.leaves[branchOf(segment)]?.[slotOf(segment)] ?? 0n;
  }

  /** The branch level: 128 hashes (a live view: encode or compare it before the next write). */
  branchLevel(): BigUint64Array {
    return this.branchHashes;
  }

  /** One branch's 128 segment hashes (a live view), undefined when the branch never held a key. */
  segmentLevel(branch: number): BigUint64Array | undefined {
    return this.leaves[branch];
  }

  private xor(segment: number, delta: bigint): void {
    if (delta === 0n) return;
    const branch = branchOf(segment);
    const leaf = (this.leaves[branch] ??= new BigUint64Array(SEGMENTS_PER_BRANCH));
    const slot = slotOf(segment);
    leaf[slot] = leaf[slot]! ^ delta;
    this.branchHashes[branch] = this.branchHashes[branch]! ^ delta;
    this.rootHash ^= delta;
  }
}

const EMPTY: ReadonlyMap<string, bigint> = new Map();
