/**
 * The Store contract (src/ports/store.ts), run against MemoryStore and
 * LmdbStore in both sync modes, plus what only LMDB has: reopening, corrupt
 * bytes on disk, closing with writes in flight.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LmdbStore, StoreCorruptionError } from '../../src/adapters/lmdb-store.js';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { LIMITS } from '../../src/core/limits.js';
import { packObject, unpackObject } from '../../src/core/version/codec.js';
import { update } from '../../src/core/version/dvv.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import type { Store } from '../../src/ports/store.js';
import { plain } from './support/dvv-arbitraries.js';

const utf8 = new TextEncoder();
const WRITE_TIME_MS = 1_700_000_000_000;

/** A one-sibling object written by `actor` (a fresh key's first write). */
function objectOf(text: string, actor = 'n1.e1'): VersionedObject {
  return update(undefined, [], actor, { value: utf8.encode(text), contentType: 'text/plain', deleted: false, lastModifiedMs: WRITE_TIME_MS }, LIMITS.siblingsMaxDefault);
}

/** Two concurrent siblings and a tombstone: exercises every field the codec stores. */
function richObject(): VersionedObject {
  const a = objectOf('alpha', 'n1.e1');
  const b = update(a, [], 'n2.e1', { value: new Uint8Array([0, 255, 7]), contentType: 'application/octet-stream', deleted: false, lastModifiedMs: WRITE_TIME_MS + 1 }, 100);
  return update(b, [], 'n3.e1', { value: new Uint8Array(0), contentType: '', deleted: true, lastModifiedMs: WRITE_TIME_MS + 2 }, 100);
}

function textOf(obj: VersionedObject | undefined): string | undefined {
  const s = obj?.siblings[0];
  return s === undefined ? undefined : Buffer.from(s.value).toString('utf8');
}

function keysOf(rows: Array<{ key: string }>): string[] {
  return rows.map((r) => r.key);
}

/** Sorts strings by their UTF-8 bytes (what LMDB does), not by UTF-16 units. */
function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

interface Harness {
  /** A fresh, empty store. */
  create(): Promise<Store>;
  /** Closes `store` and opens the same data again; undefined when the store has no disk. */
  reopen?: (store: Store) => Promise<Store>;
  /** Closes whatever is open and removes any files; runs even when a test failed. */
  cleanup(): Promise<void>;
}

function memoryHarness(): Harness {
  return { create: () => Promise.resolve(new MemoryStore()), cleanup: () => Promise.resolve() };
}

function lmdbHarness(sync: 'fsync' | 'none'): Harness {
  let dir: string | undefined;
  let current: Store | undefined;
  const openAt = (): Store => (current = LmdbStore.open(join(dir!, 'db'), { sync }));
  return {
    async create() {
      dir = await mkdtemp(join(tmpdir(), 'dynakv-store-'));
      return openAt();
    },
    async reopen(store) {
      await store.close();
      return openAt();
    },
    async cleanup() {
      try {
        await current?.close();
      } finally {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
        dir = current = undefined;
      }
    },
  };
}

const harnesses: Array<[string, () => Harness]> = [
  ['MemoryStore', memoryHarness],
  ['LmdbStore sync=fsync', () => lmdbHarness('fsync')],
  ['LmdbStore sync=none', () => lmdbHarness('none')],
];

describe.each(harnesses)('Store contract: %s', (_name, makeHarness) => {
  let harness: Harness;
  let store: Store;

  beforeEach(async () => {
    harness = makeHarness();
    store = await harness.create();
  });

  afterEach(async () => {
    await harness.cleanup();
  });

  it('get sees a put and a remove before they are durable', async () => {
    const written = store.put(3, 'k', objectOf('v1'));
    expect(textOf(store.get(3, 'k'))).toBe('v1');
    await written;
    const removed = store.remove(3, 'k');
    expect(store.get(3, 'k')).toBeUndefined();
    await removed;
    expect(store.get(3, 'k')).toBeUndefined();
  });

  it('round-trips a versioned object with siblings and a tombstone', async () => {
    const obj = richObject();
    await store.put(7, 'cart:42', obj);
    expect(plain(store.get(7, 'cart:42')!)).toEqual(plain(obj));
    const reopened = harness.reopen ? await harness.reopen(store) : store;
    expect(plain(reopened.get(7, 'cart:42')!)).toEqual(plain(obj));
  });

  it('getPacked gives the packed form of what get gives, pending or durable, as a copy', async () => {
    const obj = richObject();
    expect(store.getPacked(5, 'k')).toBeUndefined();
    const written = store.put(5, 'k', obj);
    expect(Buffer.from(store.getPacked(5, 'k')!)).toEqual(Buffer.from(packObject(obj)));
    await written;
    const durable = store.getPacked(5, 'k')!;
    expect(plain(unpackObject(durable))).toEqual(plain(obj));
    durable.fill(0); // the caller owns its copy
    expect(plain(unpackObject(store.getPacked(5, 'k')!))).toEqual(plain(obj));
    const removed = store.remove(5, 'k');
    expect(store.getPacked(5, 'k')).toBeUndefined();
    await removed;
    expect(store.getPacked(5, 'k')).toBeUndefined();
  });

  it('getPacked copies values of every size exactly', async () => {
    for (const size of [1, 1000, 5000, 100_000]) {
      const obj = update(undefined, [], 'n1.e1', { value: new Uint8Array(size).fill(size % 251), contentType: 'x/y', deleted: false, lastModifiedMs: WRITE_TIME_MS }, 10);
      await store.put(4, `k${size}`, obj);
    }
    for (const size of [100_000, 1, 5000, 1000]) {
      const packed = store.getPacked(4, `k${size}`)!;
      store.get(4, 'k1'); // a later read must not change a copy already handed out
      expect(plain(unpackObject(packed)).siblings[0]!.value).toEqual(plain(unpackObject(packObject(store.get(4, `k${size}`)!))).siblings[0]!.value);
      expect(unpackObject(packed).siblings[0]!.value.length).toBe(size);
    }
  });

  it('put with the packed bytes given stores those bytes', async () => {
    const obj = richObject();
    const packed = packObject(obj);
    await store.put(6, 'k', obj, packed);
    expect(Buffer.from(store.getPacked(6, 'k')!)).toEqual(Buffer.from(packed));
    const reopened = harness.reopen ? await harness.reopen(store) : store;
    expect(plain(reopened.get(6, 'k')!)).toEqual(plain(obj));
  });

  it('reads keys of every length up to the limit, multibyte ones included', async () => {
    const long = 'é'.repeat(LIMITS.keyBytesMax / 2); // 1024 UTF-8 bytes, 512 UTF-16 units
    for (const key of ['a', 'ключ', long, 'x'.repeat(LIMITS.keyBytesMax)]) {
      await store.put(9, key, objectOf(key.slice(0, 8)));
      expect(textOf(store.get(9, key))).toBe(key.slice(0, 8));
      expect(store.getPacked(9, key)).toBeDefined();
    }
    expect(store.get(9, 'é'.repeat(LIMITS.keyBytesMax / 2 - 1))).toBeUndefined();
  });

  it('returns undefined for a missing key, and removing one does not throw', async () => {
    expect(store.get(0, 'nope')).toBeUndefined();
    await expect(store.remove(0, 'nope')).resolves.toBeUndefined();
    expect(store.scan(0, undefined, 10)).toEqual([]);
  });

  it('keeps partitions apart and scans each in ascending order', async () => {
    const partitions = [0, 1, 256, 65535];
    const keys = ['m', 'a', 'zz', 'b', 'a0'];
    await Promise.all(partitions.flatMap((p) => keys.map((k) => store.put(p, k, objectOf(`${p}/${k}`)))));
    for (const p of partitions) {
      const rows = store.scan(p, undefined, 100);
      expect(keysOf(rows)).toEqual(['a', 'a0', 'b', 'm', 'zz']);
      expect(rows.map((r) => textOf(r.object))).toEqual(['a', 'a0', 'b', 'm', 'zz'].map((k) => `${p}/${k}`));
      expect(textOf(store.get(p, 'm'))).toBe(`${p}/m`);
    }
    expect(store.scan(2, undefined, 100)).toEqual([]);
    expect(store.scan(255, undefined, 100)).toEqual([]);
  });

  it('scans strictly after afterKey and at most limit keys', async () => {
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => store.put(9, k, objectOf(k))));
    expect(keysOf(store.scan(9, undefined, 2))).toEqual(['a', 'b']);
    expect(keysOf(store.scan(9, 'b', 2))).toEqual(['c', 'd']);
    expect(keysOf(store.scan(9, 'd', 10))).toEqual(['e']);
    expect(keysOf(store.scan(9, 'e', 10))).toEqual([]);
    expect(keysOf(store.scan(9, 'bb', 10))).toEqual(['c', 'd', 'e']); // afterKey need not exist
    expect(keysOf(store.scan(9, '', 1))).toEqual(['a']);
    expect(store.scan(9, undefined, 0)).toEqual([]);
  });

  it('pages through a partition without gaps or repeats', async () => {
    const keys = Array.from({ length: 57 }, (_, i) => `key-${i}`);
    await Promise.all(keys.map((k) => store.put(4, k, objectOf(k))));
    const seen: string[] = [];
    let after: string | undefined;
    const PAGES_MAX = 10; // bounded: a scan that repeats its afterKey must fail, not spin
    for (let page = 0; page < PAGES_MAX; page++) {
      const rows = store.scan(4, after, 10);
      if (rows.length === 0) break;
      seen.push(...keysOf(rows));
      after = rows[rows.length - 1]!.key;
    }
    expect(seen).toEqual(byteOrder(keys));
  });

  it('orders multibyte UTF-8 keys by bytes, not UTF-16 units', async () => {
    // U+E000 sorts before U+1F600 in UTF-8 (EE.. < F0..) but after it in UTF-16 (E000 > D83D).
    const keys = ['z', 'a', 'é', '€', '\uE000', '😀', '日本', 'ab', '\uFFFD'];
    await Promise.all(keys.map((k) => store.put(12, k, objectOf(k))));
    const expected = byteOrder(keys);
    expect(expected.indexOf('\uE000')).toBeLessThan(expected.indexOf('😀'));
    expect(keysOf(store.scan(12, undefined, 100))).toEqual(expected);
    expect(keysOf(store.scan(12, '€', 100))).toEqual(expected.slice(expected.indexOf('€') + 1));
    expect(textOf(store.get(12, '😀'))).toBe('😀');
  });

  it('scan shows pending puts and hides pending removes', async () => {
    await Promise.all(['a', 'c', 'e'].map((k) => store.put(5, k, objectOf(`old-${k}`))));
    const pending = [store.put(5, 'b', objectOf('new-b')), store.put(5, 'c', objectOf('new-c')), store.remove(5, 'e'), store.put(6, 'a', objectOf('other'))];
    const rows = store.scan(5, undefined, 10);
    expect(keysOf(rows)).toEqual(['a', 'b', 'c']);
    expect(rows.map((r) => textOf(r.object))).toEqual(['old-a', 'new-b', 'new-c']);
    expect(keysOf(store.scan(5, 'a', 1))).toEqual(['b']);
    await Promise.all(pending);
    expect(keysOf(store.scan(5, undefined, 10))).toEqual(['a', 'b', 'c']);
  });

  it('keeps the last of many concurrent puts to one key', async () => {
    const writes: Array<Promise<void>> = [];
    for (let turn = 0; turn < 5; turn++) {
      for (let i = 0; i < 40; i++) writes.push(store.put(1, 'hot', objectOf(`v${turn * 40 + i}`)));
      expect(textOf(store.get(1, 'hot'))).toBe(`v${turn * 40 + 39}`);
      await new Promise((resolve) => setImmediate(resolve)); // the next writes land in a later transaction
    }
    await writes[0];
    expect(textOf(store.get(1, 'hot'))).toBe('v199'); // an early write's durability must not unmask an older value
    await Promise.all(writes);
    expect(textOf(store.get(1, 'hot'))).toBe('v199');
    const reopened = harness.reopen ? await harness.reopen(store) : store;
    expect(textOf(reopened.get(1, 'hot'))).toBe('v199');
  });

  it('round-trips metadata records', async () => {
    expect(store.getMeta('actor')).toBeUndefined();
    const value = new Uint8Array([1, 2, 3]);
    const written = store.putMeta('actor', value);
    value[0] = 99; // the caller reusing its buffer changes nothing stored
    expect(Array.from(store.getMeta('actor')!)).toEqual([1, 2, 3]);
    await written;
    await store.putMeta('incarnation', new Uint8Array([7]));
    const reopened = harness.reopen ? await harness.reopen(store) : store;
    expect(Array.from(reopened.getMeta('actor')!)).toEqual([1, 2, 3]);
    expect(Array.from(reopened.getMeta('incarnation')!)).toEqual([7]);
  });

  it('counts keys and bytes', async () => {
    expect(store.stats().keys).toBe(0);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(i % 3, `k${i}`, objectOf('x'.repeat(1024)))));
    await store.put(0, 'k0', objectOf('overwrite')); // same key: not a new one
    await store.remove(1, 'k1');
    const stats = store.stats();
    expect(stats.keys).toBe(19);
    expect(stats.bytes).toBeGreaterThanOrEqual(18 * 1024);
  });

  it('rejects a partition outside 0..65535', () => {
    expect(() => store.get(65536, 'k')).toThrow(RangeError);
    expect(() => store.get(-1, 'k')).toThrow(RangeError);
    expect(() => store.scan(1.5, undefined, 1)).toThrow(RangeError);
  });

  it('rejects a key with a lone surrogate, which has no UTF-8 form', () => {
    // Encoded, '\uD800' and '\uDC00' would both become U+FFFD and share one record.
    expect(() => store.get(0, 'a\uD800')).toThrow(RangeError);
    expect(() => store.put(0, '\uDC00', objectOf('x'))).toThrow(RangeError);
  });

  it('keeps large values intact across later reads', async () => {
    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const obj = update(undefined, [], 'n1.e1', { value: big, contentType: 'application/octet-stream', deleted: false, lastModifiedMs: 1 }, 100);
    await store.put(2, 'big', obj);
    await store.put(2, 'small', objectOf('s'));
    const got = store.get(2, 'big')!;
    const scanned = store.scan(2, undefined, 10);
    store.get(2, 'small'); // reads that could reuse a shared buffer
    store.scan(2, 'big', 10);
    expect(Buffer.compare(got.siblings[0]!.value, big)).toBe(0);
    expect(Buffer.compare(scanned[0]!.object.siblings[0]!.value, big)).toBe(0);
  });

  it('keeps small values intact when later reads go through the same read buffer', async () => {
    const values = ['first value', 'a second, different value', 'third'].map((t) => Buffer.from(t.repeat(20)));
    for (let i = 0; i < values.length; i++) {
      await store.put(3, `k${i}`, update(undefined, [], 'n1.e1', { value: values[i]!, contentType: 'text/plain', deleted: false, lastModifiedMs: 1 }, 100));
    }
    const got = values.map((_, i) => store.get(3, `k${i}`)!);
    store.scan(3, undefined, 10);
    for (let i = 0; i < values.length; i++) expect(Buffer.compare(got[i]!.siblings[0]!.value, values[i]!)).toBe(0);
  });
});

describe('MemoryStore', () => {
  it('wipe() loses every object and metadata record', async () => {
    const store = new MemoryStore();
    await store.put(0, 'k', objectOf('v'));
    await store.putMeta('actor', new Uint8Array([1]));
    store.wipe();
    expect(store.get(0, 'k')).toBeUndefined();
    expect(store.getMeta('actor')).toBeUndefined();
    expect(store.scan(0, undefined, 10)).toEqual([]);
    expect(store.stats()).toEqual({ keys: 0, bytes: 0 });
  });

  it('keeps its data across close(), as a disk outlives a restart', async () => {
    const store = new MemoryStore();
    await store.put(0, 'k', objectOf('v'));
    await store.close();
    expect(textOf(store.get(0, 'k'))).toBe('v');
  });
});

describe('LmdbStore on disk', () => {
  let dir: string;
  const opened: LmdbStore[] = [];
  const openStore = (sync: 'fsync' | 'none' = 'fsync'): LmdbStore => {
    const store = LmdbStore.open(join(dir, 'db'), { sync });
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dynakv-lmdb-'));
  });

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps data across close and reopen, in either sync mode', async () => {
    const first = openStore('fsync');
    await Promise.all(Array.from({ length: 100 }, (_, i) => first.put(i % 4, `k${i}`, objectOf(`v${i}`))));
    await first.close();
    const second = openStore('none'); // the operator may change --sync between runs
    expect(textOf(second.get(3, 'k99'))).toBe('v99');
    expect(second.stats().keys).toBe(100);
    await second.put(0, 'later', objectOf('l'));
    await second.close();
    expect(textOf(openStore('fsync').get(0, 'later'))).toBe('l');
  });

  it('close() waits for writes still in flight', async () => {
    const store = openStore();
    const writes = Array.from({ length: 50 }, (_, i) => store.put(0, `k${i}`, objectOf(`v${i}`)));
    await store.close();
    await Promise.all(writes);
    await expect(store.put(0, 'x', objectOf('x'))).rejects.toThrow(/closed/);
    await expect(store.putMeta('x', new Uint8Array(1))).rejects.toThrow(/closed/);
    expect(openStore().scan(0, undefined, 100)).toHaveLength(50);
  });

  it('throws StoreCorruptionError naming the key when stored bytes do not decode', async () => {
    const store = openStore();
    await store.put(300, 'good', objectOf('fine'));
    await store.close();
    await writeRaw(join(dir, 'db'), 300, 'bad', Buffer.from([0xc1, 0xff, 0x00]));
    const reopened = openStore();
    expect(() => reopened.get(300, 'bad')).toThrow(StoreCorruptionError);
    expect(() => reopened.get(300, 'bad')).toThrow(/"bad".*partition 300/);
    expect(() => reopened.scan(300, undefined, 10)).toThrow(StoreCorruptionError);
    expect(textOf(reopened.get(300, 'good'))).toBe('fine'); // the rest keeps serving
    await reopened.put(300, 'bad', objectOf('repaired'));
    expect(textOf(reopened.get(300, 'bad'))).toBe('repaired');
  });
});

/** Writes raw bytes under an object's LMDB key, bypassing LmdbStore (the store must be closed). */
async function writeRaw(path: string, partition: number, key: string, bytes: Buffer): Promise<void> {
  const root = open(path, { overlappingSync: false });
  try {
    const objects = root.openDB<Uint8Array, Buffer>({ name: 'objects', keyEncoding: 'binary', encoding: 'binary' });
    const lmdbKey = Buffer.concat([Buffer.from([partition >> 8, partition & 0xff]), Buffer.from(key, 'utf8')]);
    await objects.put(lmdbKey, bytes);
  } finally {
    await root.close();
  }
}
