import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { createHasher } from '../../src/adapters/xxhash.js';
import { contributionOf, objectDigest, segmentOf } from '../../src/core/antientropy/contribution.js';
import { decodeGroups, differingIndices, encodeGroups } from '../../src/core/antientropy/hash-wire.js';
import { PartitionTree } from '../../src/core/antientropy/partition-tree.js';
import { TreeStore } from '../../src/core/antientropy/tree-store.js';
import { BRANCHES, SEGMENTS } from '../../src/core/antientropy/tree-shape.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import type { Hasher } from '../../src/ports/hasher.js';
import { validObjectArb } from './support/dvv-arbitraries.js';

/** Merkle trees: XOR segments updated incrementally equal trees rebuilt from scratch. */

let hasher: Hasher;
beforeAll(async () => {
  hasher = await createHasher();
});

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
    expect(differingIndices(tree.branchLevel(), new BigUint64Array(BRANCHES))).toEqual([]);
  });

  it('tree levels travel as sparse groups: 16-byte bitmap + the non-zero hashes; decoding rejects malformed bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.array(fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 64n) - 1n })), { minLength: 128, maxLength: 128 }), { nil: undefined }), { maxLength: 6 }), (groups) => {
        const bytes = encodeGroups(groups);
        const nonZero = groups.reduce((n, g) => n + (g?.filter((h) => h !== 0n).length ?? 0), 0);
        expect(bytes.length).toBe(groups.length * 16 + nonZero * 8);
        expect([...decodeGroups(bytes, groups.length)]).toEqual(groups.flatMap((g) => g ?? new Array<bigint>(128).fill(0n)));
        if (bytes.length > 0) expect(() => decodeGroups(bytes.subarray(0, bytes.length - 1), groups.length)).toThrow();
        expect(() => decodeGroups(Uint8Array.of(...bytes, 0), groups.length)).toThrow();
      }),
    );
    expect(encodeGroups([undefined, undefined]).length).toBe(32);
    expect(() => decodeGroups(Uint8Array.of(0xff, ...new Uint8Array(15)), 1)).toThrow(/truncated/);
  });

  it('rejects a segment outside the tree', () => {
    expect(() => new PartitionTree().set(SEGMENTS, 'k', 1n)).toThrow(/segment/);
    expect(() => new PartitionTree().set(-1, 'k', 1n)).toThrow(/segment/);
  });

  it('the digest is canonical: vector, dots and tombstone flags matter; value bytes and times do not', () => {
    const base: VersionedObject = {
      vv: [['n1.a', 2]],
      siblings: [{ dot: { actor: 'n1.a', counter: 2 }, value: new Uint8Array([1]), contentType: 'x', deleted: false, lastModifiedMs: 1 }],
    };
    const sameDots: VersionedObject = { vv: base.vv, siblings: [{ ...base.siblings[0]!, value: new Uint8Array([2]), lastModifiedMs: 9 }] };
    const tomb: VersionedObject = { vv: base.vv, siblings: [{ ...base.siblings[0]!, deleted: true }] };
    const moreSeen: VersionedObject = { vv: [['n1.a', 2], ['n2.a', 1]], siblings: base.siblings };
    expect(objectDigest('k', sameDots)).toBe(objectDigest('k', base));
    expect(objectDigest('k', tomb)).not.toBe(objectDigest('k', base));
    expect(objectDigest('k', moreSeen)).not.toBe(objectDigest('k', base));
    expect(objectDigest('k2', base)).not.toBe(objectDigest('k', base));
    // Length prefixes: actor "a=1;1:b" cannot imitate two entries.
    expect(objectDigest('k', { vv: [['a=1;1:b', 2]], siblings: [] })).not.toBe(objectDigest('k', { vv: [['a', 1], ['b', 2]], siblings: [] }));
    expect(contributionOf(hasher, 'k', base)).toBe(hasher.hash64(objectDigest('k', base)));
    expect(segmentOf(hasher, 'k')).toBe(Number(hasher.hash64('k') & BigInt(SEGMENTS - 1)));
  });
});

describe('TreeStore: incremental trees equal trees built from scratch', () => {
  it('for arbitrary put/remove sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 80 }), async (ops) => {
        const inner = new MemoryStore();
        const live = new TreeStore(inner, hasher, PARTITIONS);
        buildAll(live);
        for (const op of ops) await apply(live, op);
        const rebuilt = new TreeStore(inner, hasher, PARTITIONS);
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
        const first = new TreeStore(inner, hasher, PARTITIONS);
        buildAll(first);
        for (const op of before) await apply(first, op);
        // A restart: a new TreeStore over the same data, rebuilt in small steps between writes.
        const restarted = new TreeStore(inner, hasher, PARTITIONS);
        for (const op of during) {
          restarted.buildStep(budget);
          await apply(restarted, op);
        }
        buildAll(restarted, budget);
        const scratch = new TreeStore(inner, hasher, PARTITIONS);
        buildAll(scratch);
        expectSameTrees(restarted, scratch);
      }),
      { numRuns: 150 },
    );
  });

  it('is not built until its scan reaches the end; empty partitions cost one unit each', async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 10; i++) await inner.put(1, `k${i}`, { vv: [['a', 1]], siblings: [] });
    const trees = new TreeStore(inner, hasher, PARTITIONS);
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
    const trees = new TreeStore(failing, hasher, PARTITIONS);
    buildAll(trees);
    await expect(trees.put(0, 'k', { vv: [['a', 1]], siblings: [] })).rejects.toThrow('disk full');
    await new Promise((r) => setImmediate(r));
    expect(trees.root(0)).toBe(0n);
    const plain = new TreeStore(inner, hasher, PARTITIONS);
    expect(() => plain.put(70_000, 'k', { vv: [], siblings: [] })).toThrow(RangeError); // synchronous: no tree touched
    expect(plain.tree(70_000)).toBeUndefined();
  });
});
