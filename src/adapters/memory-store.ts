import { packObject } from '../core/version/codec.js';
import type { VersionedObject } from '../core/version/types.js';
import type { Store } from '../ports/store.js';

/** Partitions are stored under a 2-byte number in LmdbStore; the same bound here keeps the two stores interchangeable. */
const PARTITION_MAX = 0xffff;

interface Entry {
  readonly object: VersionedObject;
  readonly keyBytes: Buffer;
  /** Key bytes + packed object bytes: what LmdbStore would hold on disk, so `stats()` agrees across stores. */
  readonly size: number;
}

interface Partition {
  readonly entries: Map<string, Entry>;
  /** Keys in ascending UTF-8 byte order; dropped when a key is added or removed, rebuilt by the next scan. */
  sorted: string[] | undefined;
}

/**
 * The Store for unit tests and the deterministic simulator: everything lives in
 * process memory, every write is "durable" at once, and promises resolve through
 * `Promise.resolve()` only (no timers, no I/O), so a simulation stays
 * reproducible. Memory outlives `close()` the way a disk outlives a restart;
 * `wipe()` models losing the disk.
 */
export class MemoryStore implements Store {
  private readonly partitions = new Map<number, Partition>();
  private readonly meta = new Map<string, Uint8Array>();
  private keyCount = 0;
  private byteCount = 0;

  get(partition: number, key: string): VersionedObject | undefined {
    checkPartition(partition);
    checkKey(key);
    return this.partitions.get(partition)?.entries.get(key)?.object;
  }

  getPacked(partition: number, key: string): Uint8Array | undefined {
    const object = this.get(partition, key);
    return object === undefined ? undefined : packObject(object);
  }

  put(partition: number, key: string, object: VersionedObject, packed?: Uint8Array): Promise<void> {
    checkPartition(partition);
    checkKey(key);
    const part = this.partitionFor(partition);
    const keyBytes = Buffer.from(key, 'utf8');
    const entry: Entry = { object, keyBytes, size: keyBytes.length + (packed ?? packObject(object)).length };
    const previous = part.entries.get(key);
    part.entries.set(key, entry);
    this.account(previous, entry);
    if (previous === undefined) part.sorted = undefined;
    return Promise.resolve();
  }

  remove(partition: number, key: string): Promise<void> {
    checkPartition(partition);
    checkKey(key);
    const part = this.partitions.get(partition);
    const previous = part?.entries.get(key);
    if (part !== undefined && previous !== undefined) {
      part.entries.delete(key);
      part.sorted = undefined;
      this.account(previous, undefined);
    }
    return Promise.resolve();
  }

  scan(partition: number, afterKey: string | undefined, limit: number): Array<{ key: string; object: VersionedObject }> {
    checkPartition(partition);
    const part = this.partitions.get(partition);
    if (part === undefined || limit <= 0) return [];
    const sorted = (part.sorted ??= sortByBytes(part.entries));
    const from = afterKey === undefined ? 0 : firstAfter(sorted, part.entries, Buffer.from(afterKey, 'utf8'));
    return sorted.slice(from, from + limit).map((key) => ({ key, object: part.entries.get(key)!.object }));
  }

  stats(): { keys: number; bytes: number } {
    return { keys: this.keyCount, bytes: this.byteCount };
  }

  getMeta(name: string): Uint8Array | undefined {
    const value = this.meta.get(name);
    return value === undefined ? undefined : value.slice();
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    // Copy: a caller reusing its buffer must not change what was "written".
    this.meta.set(name, value.slice());
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Loses every object and metadata record, as when a node's disk is replaced. */
  wipe(): void {
    this.partitions.clear();
    this.meta.clear();
    this.keyCount = 0;
    this.byteCount = 0;
  }

  private partitionFor(partition: number): Partition {
    let part = this.partitions.get(partition);
    if (part === undefined) {
      part = { entries: new Map(), sorted: undefined };
      this.partitions.set(partition, part);
    }
    return part;
  }

  private account(previous: Entry | undefined, next: Entry | undefined): void {
    this.keyCount += (next ? 1 : 0) - (previous ? 1 : 0);
    this.byteCount += (next?.size ?? 0) - (previous?.size ?? 0);
  }
}

/** Rejected as LmdbStore rejects it: a lone surrogate has no UTF-8 form, so it has no place in the byte order. */
function checkKey(key: string): void {
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) throw new RangeError('key is not well-formed Unicode (lone surrogate)');
}

function checkPartition(partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition > PARTITION_MAX) {
    throw new RangeError(`partition must be an integer in 0..${PARTITION_MAX}, got ${partition}`);
  }
}

/** UTF-8 byte order, as LMDB sorts; JS string order (UTF-16 units) differs above U+FFFF. */
function sortByBytes(entries: Map<string, Entry>): string[] {
  return [...entries.keys()].sort((a, b) => Buffer.compare(entries.get(a)!.keyBytes, entries.get(b)!.keyBytes));
}

/** Index of the first key in `sorted` whose bytes are strictly greater than `after` (binary search). */
function firstAfter(sorted: readonly string[], entries: Map<string, Entry>, after: Buffer): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(entries.get(sorted[mid]!)!.keyBytes, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
