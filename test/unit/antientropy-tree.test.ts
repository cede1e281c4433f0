import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { murmur128, toBig, TreeHasher } from '../../src/core/antientropy/contribution.js';
import { decodeGroups, decodeHashes, differingIndices, encodeGroups, encodeHashes } from '../../src/core/antientropy/hash-wire.js';
import { PartitionTree } from '../../src/core/antientropy/partition-tree.js';
import { TreeStore } from '../../src/core/antientropy/tree-store.js';
import { BRANCHES, SEGMENTS } from '../../src/core/antientropy/tree-shape.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import { validObjectArb } from './support/dvv-arbitraries.js';

/** Merkle trees: XOR segments updated incrementally equal trees rebuilt from scratch. */


const PARTITIONS = 4;
const ALL_BRANCHES = Array.from({ length: BRANCHES }, (_, i) => i);

type Op = { kind: 'put'; partition: number; key: string; object: VersionedObject } | { kind: 'remove'; partition: number; key: string };

const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }).map((i) => `k${i}`) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.isWellFormed()) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), partition: fc.nat({ max: PARTITIONS - 1 }), key: keyArb, object: validObjectArb() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), partition: fc.nat({ max: PARTITIONS - 1 }), key: keyArb }) },
);

function apply(store: TreeStore, op: Op): Promise<void> {
  return op.kind === 'put' ? store.put(op.partition, op.key, op.object) : store.remove(op.partition, op.key);
}

function buildAll(trees: TreeStore, budget = 1 << 20): void {
  for (let i = 0; i < 100_000 && !trees.buildStep(budget); i++);
  expect(trees.allBuilt).toBe(true);
}

/** Everything observable about a partition's tree, for equality. */
function snapshot(trees: TreeStore, partition: number): unknown {
  const tree = trees.tree(partition);
  if (tree === undefined || tree.keys === 0) return { root: 0n, keys: 0 };
  return {
    root: tree.root,
    keys: tree.keys,
    branches: Buffer.from(encodeGroups([tree.branchLevel()])).toString('hex'),
    segments: Buffer.from(encodeGroups(ALL_BRANCHES.map((b) => tree.segmentLevel(b)))).toString('hex'),
    entries: [...tree.entries()].sort((a, b) => (a[1] < b[1] ? -1 : 1)),
  };
}

function expectSameTrees(a: TreeStore, b: TreeStore): void {
  for (let p = 0; p < PARTITIONS; p++) expect(snapshot(a, p)).toEqual(snapshot(b, p));
}

describe('PartitionTree', () => {
  it('XOR levels: root = XOR of branches = XOR of contributions; removing every key returns to zero', () => {
    const tree = new PartitionTree();
    const items = Array.from({ length: 500 }, (_, i) => ({ segment: (i * 7919) % SEGMENTS, key: `key${i}`, c: BigInt(i + 1) * 0x9e3779b97f4a7c15n % (1n << 64n) }));
    let expected = 0n;
    for (const it of items) {
      tree.set(it.segment, it.key, it.c);
      expected ^= it.c;
    }
    expect(tree.root).toBe(expected);
    expect(tree.keys).toBe(500);
    let branches = 0n;
    for (let b = 0; b < BRANCHES; b++) branches ^= tree.branchHash(b);
    expect(branches).toBe(expected);
    tree.set(items[0]!.segment, items[0]!.key, 42n); // an update XORs the old contribution out
    expect(tree.root).toBe(expected ^ items[0]!.c ^ 42n);
    expect(tree.contributionOf(items[0]!.segment, items[0]!.key)).toBe(42n);
    for (const it of items) tree.set(it.segment, it.key, undefined);
    expect(tree.root).toBe(0n);
    expect(tree.keys).toBe(0);
    expect(differingIndices(tree.branchLevel(), new Int32Array(2 * BRANCHES))).toEqual([]);
  });

  it('tree levels travel as sparse groups: 16-byte bitmap + the non-zero hashes; decoding rejects malformed bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.array(fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 64n) - 1n })), { minLength: 128, maxLength: 128 }), { nil: undefined }), { maxLength: 6 }), (groups) => {
        const bytes = encodeGroups(groups.map((g) => (g === undefined ? undefined : pairsOf(g))));
        const nonZero = groups.reduce((n, g) => n + (g?.filter((h) => h !== 0n).length ?? 0), 0);
        expect(bytes.length).toBe(groups.length * 16 + nonZero * 8);
        expect(bigsOf(decodeGroups(bytes, groups.length))).toEqual(groups.flatMap((g) => g ?? new Array<bigint>(128).fill(0n)));
        // The bytes are the 64-bit numbers', big-endian, as before hashes were kept as int32 pairs.
        expect(Buffer.from(bytes).toString('hex')).toBe(expectedGroupsHex(groups));
        if (bytes.length > 0) expect(() => decodeGroups(bytes.subarray(0, bytes.length - 1), groups.length)).toThrow();
        expect(() => decodeGroups(Uint8Array.of(...bytes, 0), groups.length)).toThrow();
      }),
    );
    expect(encodeGroups([undefined, undefined]).length).toBe(32);
    expect(() => decodeGroups(Uint8Array.of(0xff, ...new Uint8Array(15)), 1)).toThrow(/truncated/);
    // A listed hash of zero is a second encoding of "absent": rejected.
    expect(() => decodeGroups(Uint8Array.of(1, ...new Uint8Array(15), ...new Uint8Array(8)), 1)).toThrow(/zero/);
  });

  it('plain hash lists: 8 big-endian bytes per hash; decoding rejects partial hashes', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 20 }), (hashes) => {
        const bytes = encodeHashes(pairsOf(hashes));
        expect(Buffer.from(bytes).toString('hex')).toBe(hashes.map((h) => h.toString(16).padStart(16, '0')).join(''));
        expect(bigsOf(decodeHashes(bytes))).toEqual(hashes);
        if (bytes.length > 0) expect(() => decodeHashes(bytes.subarray(1))).toThrow();
      }),
    );
  });

  it('rejects a segment outside the tree', () => {
    expect(() => new PartitionTree().set(SEGMENTS, 'k', 1n)).toThrow(/segment/);
    expect(() => new PartitionTree().set(-1, 'k', 1n)).toThrow(/segment/);
  });

  it('a contribution is canonical: vector, dots and tombstone flags matter; value bytes and times do not', () => {
    const h = new TreeHasher();
    const base: VersionedObject = {
      vv: [['n1.a', 2]],
      siblings: [{ dot: { actor: 'n1.a', counter: 2 }, value: new Uint8Array([1]), contentType: 'x', deleted: false, lastModifiedMs: 1 }],
    };
    const c = (key: string, o: VersionedObject): bigint => h.contributionOf(key, o);
    const sameDots: VersionedObject = { vv: base.vv, siblings: [{ ...base.siblings[0]!, value: new Uint8Array([2]), contentType: 'y', lastModifiedMs: 9 }] };
    const tomb: VersionedObject = { vv: base.vv, siblings: [{ ...base.siblings[0]!, deleted: true }] };
    const moreSeen: VersionedObject = { vv: [['n1.a', 2], ['n2.a', 1]], siblings: base.siblings };
    const otherDot: VersionedObject = { vv: base.vv, siblings: [{ ...base.siblings[0]!, dot: { actor: 'n1.a', counter: 1 } }] };
    expect(c('k', sameDots)).toBe(c('k', base));
    expect(c('k', tomb)).not.toBe(c('k', base));
    expect(c('k', moreSeen)).not.toBe(c('k', base));
    expect(c('k', otherDot)).not.toBe(c('k', base));
    expect(c('k2', base)).not.toBe(c('k', base));
    // Length prefixes: one actor cannot imitate two entries, nor a vector entry a sibling.
    expect(c('k', { vv: [['a=1;1:b', 2]], siblings: [] })).not.toBe(c('k', { vv: [['a', 1], ['b', 2]], siblings: [] }));
    expect(c('k', { vv: [['ab', 1]], siblings: [] })).not.toBe(c('k', { vv: [['a', 1]], siblings: [] }));
    expect(c('k', { vv: [['a', 1]], siblings: [] })).not.toBe(c('k', { vv: [], siblings: [{ ...base.siblings[0]!, dot: { actor: 'a', counter: 1 } }] }));
    // Counters use all 53 bits: 2^32 + 1 is not 1, 2^52 not 0.
    expect(c('k', { vv: [['a', 2 ** 32 + 1]], siblings: [] })).not.toBe(c('k', { vv: [['a', 1]], siblings: [] }));
    expect(c('k', { vv: [['a', 2 ** 52]], siblings: [] })).not.toBe(c('k', { vv: [['a', 2 ** 53 - 1]], siblings: [] }));
    // Every UTF-16 unit counts, including the high byte and an odd last one.
    expect(c('\u0101', base)).not.toBe(c('\u0001', base));
    expect(c('abc', base)).not.toBe(c('abd', base));
    expect(c('k', base)).toBeGreaterThan(0n);
    expect(c('k', base)).toBeLessThan(1n << 64n);
  });

  it('a contribution depends on the causal identity only, not on how the object was built or what was hashed before', () => {
    const identity = (o: VersionedObject): string => JSON.stringify([o.vv, o.siblings.map((s) => [s.dot.actor, s.dot.counter, s.deleted])]);
    fc.assert(
      fc.property(validObjectArb(), validObjectArb(), keyArb, keyArb, (x, y, kx, ky) => {
        const h = new TreeHasher();
        const cx = h.contributionOf(kx, x);
        // Equal contributions exactly when key and identity are equal (64 bits: a chance collision is negligible).
        expect(h.contributionOf(ky, y) === cx).toBe(kx === ky && identity(x) === identity(y));
        // A copy built differently (new arrays, sliced and concatenated strings, other values) hashes the same,
        // on a fresh hasher and after a much longer input grew the reused buffer.
        const copy: VersionedObject = {
          vv: x.vv.map(([a, n]) => [(' ' + a).slice(1), n] as const),
          siblings: x.siblings.map((s) => ({ ...s, dot: { actor: s.dot.actor.split('').join(''), counter: s.dot.counter }, value: new Uint8Array(3), lastModifiedMs: 0 })),
        };
        expect(new TreeHasher().contributionOf(kx, copy)).toBe(cx);
        h.contributionOf('x'.repeat(3000), { vv: Array.from({ length: 50 }, (_, i) => [`actor-${i}-${'y'.repeat(100)}`, i + 1] as const), siblings: [] });
        expect(h.contributionOf(`${kx}`, copy)).toBe(cx);
        expect(h.hash(kx, x)).toBe(h.segmentOf(kx));
      }),
      { numRuns: 300 },
    );
  });

  it('is MurmurHash3 x86_128 (reference vectors) and the key segment is stable', () => {
    const words = Int32Array.from([0, 1, -1, 0x12345678, 0x7fffffff, 42, -2]);
    const hex = (n: number, seed: number): string => {
      const out = new Int32Array(4);
      murmur128(words, n, seed, seed, seed, seed, out);
      return [...out].map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
    };
    expect(hex(0, 0)).toBe('0'.repeat(32));
    expect(hex(2, 1)).toBe('a76c540da76d684050030fa450030fa4');
    expect(hex(4, 0)).toBe('ae61de18f10e109b0e23e6015f45c144');
    expect(hex(5, 0)).toBe('b83c7fc36ac2aca5f38d2ff41c387fe5');
    expect(hex(7, 0x9747b28c | 0)).toBe('9a47180ec4b1ef037fe3910a9a1c921d');
    // Pinned: contributions and segments travel between nodes, so a change here breaks mixed-version exchanges.
    const h = new TreeHasher();
    const o: VersionedObject = { vv: [['n1.k3x9a:1b', 7], ['n2.p0q7z:c', 2]], siblings: [{ dot: { actor: 'n1.k3x9a:1b', counter: 7 }, value: new Uint8Array(0), contentType: '', deleted: false, lastModifiedMs: 0 }] };
    expect(h.contributionOf('user123456789', o).toString(16)).toBe('7888c4ebee32c40b');
    expect(h.segmentOf('user123456789')).toBe(11664);
    expect(toBig(-1, 1)).toBe(0xffff_ffff_0000_0001n);
    for (let i = 0; i < 1000; i++) {
      const s = h.segmentOf(`key${i}`);
      expect(Number.isInteger(s) && s >= 0 && s < SEGMENTS).toBe(true);
    }
  });
});

describe('TreeStore: incremental trees equal trees built from scratch', () => {
  it('for arbitrary put/remove sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 80 }), async (ops) => {
        const inner = new MemoryStore();
        const live = new TreeStore(inner, PARTITIONS);
        buildAll(live);
        for (const op of ops) await apply(live, op);
        const rebuilt = new TreeStore(inner, PARTITIONS);
        buildAll(rebuilt);
        expectSameTrees(live, rebuilt);
        // Every stored key is indexed, except empty objects (no history: the tree counts them as absent).
        let stored = 0;
        for (let p = 0; p < PARTITIONS; p++) stored += inner.scan(p, undefined, 1000).filter((r) => r.object.vv.length + r.object.siblings.length > 0).length;
        expect([...Array(PARTITIONS).keys()].reduce((n, p) => n + (live.tree(p)?.keys ?? 0), 0)).toBe(stored);
      }),
      { numRuns: 150 },
    );
  });

  it('when writes land while the rebuild scan is part-way (any chunk size)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1, max: 7 }), async (before, during, budget) => {
        const inner = new MemoryStore();
        const first = new TreeStore(inner, PARTITIONS);
        buildAll(first);
        for (const op of before) await apply(first, op);
        // A restart: a new TreeStore over the same data, rebuilt in small steps between writes.
        const restarted = new TreeStore(inner, PARTITIONS);
        for (const op of during) {
          restarted.buildStep(budget);
          await apply(restarted, op);
        }
        buildAll(restarted, budget);
        const scratch = new TreeStore(inner, PARTITIONS);
        buildAll(scratch);
        expectSameTrees(restarted, scratch);
      }),
      { numRuns: 150 },
    );
  });

  it('a put then its undo returns the tree to exactly its previous state (new key removed, old object put back)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), fc.nat({ max: PARTITIONS - 1 }), keyArb, validObjectArb(), async (ops, partition, key, object) => {
        const inner = new MemoryStore();
        const trees = new TreeStore(inner, PARTITIONS);
        buildAll(trees);
        for (const op of ops) await apply(trees, op);
        const before = snapshot(trees, partition);
        const rootBefore = trees.root(partition);
        const previous = inner.get(partition, key);
        await trees.put(partition, key, object);
        if (object.vv.length + object.siblings.length > 0 && previous === undefined) expect(trees.tree(partition)!.contributionOf(trees.segmentOf(key), key)).toBeDefined();
        await (previous === undefined ? trees.remove(partition, key) : trees.put(partition, key, previous));
        expect(trees.root(partition)).toBe(rootBefore);
        expect(snapshot(trees, partition)).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });

  it('roots of many partitions as pairs; an empty object counts as a remove', async () => {
    const trees = new TreeStore(new MemoryStore(), PARTITIONS);
    buildAll(trees);
    const o: VersionedObject = { vv: [['n1.a', 1]], siblings: [] };
    await trees.put(2, 'k', o);
    const h = new TreeHasher();
    expect(trees.root(2)).toBe(h.contributionOf('k', o));
    expect(bigsOf(trees.roots([0, 2, 2]))).toEqual([0n, trees.root(2), trees.root(2)]);
    await trees.put(2, 'k', { vv: [], siblings: [] });
    expect(trees.root(2)).toBe(0n);
    expect(trees.tree(2)!.keys).toBe(0);
  });

  it('is not built until its scan reaches the end; empty partitions cost one unit each', async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 10; i++) await inner.put(1, `k${i}`, { vv: [['a', 1]], siblings: [] });
    const trees = new TreeStore(inner, PARTITIONS);
    expect(trees.isBuilt(0)).toBe(false);
    expect(trees.buildStep(1)).toBe(false); // partition 0: empty, built
    expect(trees.isBuilt(0)).toBe(true);
    expect(trees.isBuilt(1)).toBe(false);
    trees.buildStep(4); // 4 keys of partition 1
    expect(trees.isBuilt(1)).toBe(false);
    expect(trees.tree(1)!.keys).toBe(4);
    trees.buildStep(20);
    expect(trees.allBuilt).toBe(true);
    expect(trees.tree(1)!.keys).toBe(10);
    expect(trees.isBuilt(PARTITIONS)).toBe(false);
  });

  it('a write the inner store rejects leaves the tree following the store', async () => {
    const inner = new MemoryStore();
    const failing = Object.create(inner) as MemoryStore;
    failing.put = () => Promise.reject(new Error('disk full'));
    const trees = new TreeStore(failing, PARTITIONS);
    buildAll(trees);
    await expect(trees.put(0, 'k', { vv: [['a', 1]], siblings: [] })).rejects.toThrow('disk full');
    await new Promise((r) => setImmediate(r));
    expect(trees.root(0)).toBe(0n);
    const plain = new TreeStore(inner, PARTITIONS);
    expect(() => plain.put(70_000, 'k', { vv: [], siblings: [] })).toThrow(RangeError); // synchronous: no tree touched
    expect(plain.tree(70_000)).toBeUndefined();
  });
});

/** 64-bit numbers as the trees hold them: int32 pairs, high word first. */
function pairsOf(hashes: readonly bigint[]): Int32Array {
  const out = new Int32Array(hashes.length * 2);
  hashes.forEach((h, i) => {
    out[2 * i] = Number(BigInt.asIntN(32, h >> 32n));
    out[2 * i + 1] = Number(BigInt.asIntN(32, h));
  });
  return out;
}

function bigsOf(pairs: Int32Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < pairs.length; i += 2) out.push(toBig(pairs[i]!, pairs[i + 1]!));
  return out;
}

/** The sparse group encoding, spelled out: per group a 16-byte bitmap of non-zero entries, then those entries. */
function expectedGroupsHex(groups: ReadonlyArray<readonly bigint[] | undefined>): string {
  return groups
    .map((g) => {
      const bitmap = new Uint8Array(16);
      g?.forEach((h, i) => {
        if (h !== 0n) bitmap[i >>> 3]! |= 1 << (i & 7);
      });
      return Buffer.from(bitmap).toString('hex') + (g ?? []).filter((h) => h !== 0n).map((h) => h.toString(16).padStart(16, '0')).join('');
    })
    .join('');
}
