import { assert } from '../assert.js';
import type { Store } from '../../ports/store.js';
import type { VersionedObject } from '../version/types.js';
import { TreeHasher } from './contribution.js';
import { PartitionTree } from './partition-tree.js';

/**
 * A Store decorator that keeps one Merkle tree per partition (partition-tree.ts)
 * in step with every write, so no data is ever re-read to hash it. KvNode wraps
 * its store in one: every local write (replication, read repair, hint delivery,
 * anti-entropy, reaping) goes through `put`/`remove` here.
 *
 * Trees live in memory and are rebuilt on start by `buildStep`, a bounded scan
 * the caller runs in chunks between other work. Every event sets a key's
 * contribution to the truth of that moment: a write sets it from the object
 * written, a rebuild scan from the object read (the store's scan sees pending
 * writes), a remove clears it. So writes during a rebuild need no cursor logic:
 * whichever event comes last for a key carries the store's current object.
 * A partition counts as built once its scan reached the end; until then
 * exchanges for it wait.
 *
 * A write the inner store rejects is re-read from the store (`get` shows what
 * the store now holds), so the tree follows the store, not the attempt.
 */
export class TreeStore implements Store {
  private readonly trees = new Map<number, PartitionTree>();
  /** Reused by every write (no per-write allocation); the process is single-threaded. */
  private readonly hashing = new TreeHasher();
  private readonly built: Uint8Array;
  private builtCount = 0;
  private cursor: { partition: number; afterKey: string | undefined } = { partition: 0, afterKey: undefined };
  /** Partitions whose rebuild scan failed (e.g. a corrupt object): built from what could be read. */
  rebuildErrors = 0;

  constructor(
    private readonly inner: Store,
    /** Q: partitions 0..Q-1 are rebuilt and compared. */
    readonly partitions: number,
  ) {
    assert(Number.isInteger(partitions) && partitions > 0, 'tree store: bad partition count');
    this.built = new Uint8Array(partitions);
  }

  // ---- Store ---------------------------------------------------------------

  get(partition: number, key: string): VersionedObject | undefined {
    return this.inner.get(partition, key);
  }

  getPacked(partition: number, key: string): Uint8Array | undefined {
    return this.inner.getPacked(partition, key);
  }

  put(partition: number, key: string, object: VersionedObject, packed?: Uint8Array): Promise<void> {
    const write = this.inner.put(partition, key, object, packed); // a synchronous throw leaves the tree untouched
    this.record(partition, key, object);
    return this.followFailure(write, partition, key);
  }

  remove(partition: number, key: string): Promise<void> {
    const write = this.inner.remove(partition, key);
    this.record(partition, key, undefined);
    return this.followFailure(write, partition, key);
  }

  scan(partition: number, afterKey: string | undefined, limit: number): Array<{ key: string; object: VersionedObject }> {
    return this.inner.scan(partition, afterKey, limit);
  }

  stats(): { keys: number; bytes: number } {
    return this.inner.stats();
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.inner.getMeta(name);
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    return this.inner.putMeta(name, value);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // ---- trees ---------------------------------------------------------------

  /** The partition's tree; undefined when it never held a key. */
  tree(partition: number): PartitionTree | undefined {
    return this.trees.get(partition);
  }

  /** Root hash (0 for an empty partition). */
  root(partition: number): bigint {
    return this.trees.get(partition)?.root ?? 0n;
  }

  /** Roots of these partitions as hash pairs (zeros for an empty partition). */
  roots(partitions: readonly number[]): Int32Array {
    const out = new Int32Array(partitions.length * 2);
    partitions.forEach((p, i) => this.trees.get(p)?.rootInto(out, 2 * i));
    return out;
  }

  isBuilt(partition: number): boolean {
    return partition >= 0 && partition < this.partitions && this.built[partition] === 1;
  }

  get treesBuilt(): number {
    return this.builtCount;
  }

  get allBuilt(): boolean {
    return this.builtCount === this.partitions;
  }

  segmentOf(key: string): number {
    return this.hashing.segmentOf(key);
  }

  /**
   * One bounded step of the start-up rebuild: scans at most `budget` keys
   * (every partition visited also costs one, so empty ones cannot spin).
   * Returns true once every partition is built.
   */
  buildStep(budget: number): boolean {
    assert(Number.isInteger(budget) && budget > 0, 'tree store: bad rebuild budget');
    let left = budget;
    while (left > 0 && this.cursor.partition < this.partitions) {
      const { partition, afterKey } = this.cursor;
      let rows: Array<{ key: string; object: VersionedObject }>;
      try {
        rows = this.inner.scan(partition, afterKey, left);
      } catch {
        this.rebuildErrors++;
        this.markBuilt(partition);
        continue;
      }
      for (const row of rows) this.record(partition, row.key, row.object);
      if (rows.length < left) this.markBuilt(partition);
      else this.cursor = { partition, afterKey: rows[rows.length - 1]!.key };
      left -= rows.length + 1;
    }
    return this.allBuilt;
  }

  private markBuilt(partition: number): void {
    assert(this.built[partition] === 0, `tree store: partition ${partition} built twice`);
    this.built[partition] = 1;
    this.builtCount++;
    this.cursor = { partition: partition + 1, afterKey: undefined };
  }

  private record(partition: number, key: string, object: VersionedObject | undefined): void {
    // An empty object (no history, no siblings) says nothing a missing key does not: both count as absent.
    if (object === undefined || (object.vv.length === 0 && object.siblings.length === 0)) {
      this.trees.get(partition)?.delete(this.hashing.segmentOf(key), key);
      return;
    }
    const segment = this.hashing.hash(key, object);
    let tree = this.trees.get(partition);
    if (tree === undefined) {
      tree = new PartitionTree();
      this.trees.set(partition, tree);
    }
    tree.put(segment, key, this.hashing.hi, this.hashing.lo);
  }

  private followFailure(write: Promise<void>, partition: number, key: string): Promise<void> {
    write.catch(() => {
      try {
        this.record(partition, key, this.inner.get(partition, key));
      } catch {
        this.record(partition, key, undefined); // unreadable: a peer's copy will be offered by the next exchange
      }
    });
    return write;
  }
}
