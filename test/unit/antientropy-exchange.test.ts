import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { TreeHasher } from '../../src/core/antientropy/contribution.js';
import { exchange, type ExchangeResult } from '../../src/core/antientropy/exchange.js';
import { TreeStore } from '../../src/core/antientropy/tree-store.js';
import { EMPTY_OBJECT, equalObjects, isDeleted, merge, update } from '../../src/core/version/dvv.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import { link, makeSide, type Side } from './support/aae-pair.js';
import { deepCopy, realisticObjectsArb } from './support/dvv-arbitraries.js';

/** The Merkle exchange finds exactly the differing keys, and leaves both replicas with the merge. */


type KeyCase = { a: VersionedObject | undefined; b: VersionedObject | undefined };

const keyCaseArb: fc.Arbitrary<KeyCase> = fc.oneof(
  { weight: 3, arbitrary: realisticObjectsArb(1, { maxOps: 12 }).map(([o]) => ({ a: o, b: deepCopy(o!) })) },
  { weight: 2, arbitrary: realisticObjectsArb(2, { maxOps: 12 }).map(([a, b]) => ({ a, b })) },
  { weight: 1, arbitrary: realisticObjectsArb(1, { maxOps: 12 }).map(([o]) => ({ a: o, b: undefined })) },
  { weight: 1, arbitrary: realisticObjectsArb(1, { maxOps: 12 }).map(([o]) => ({ a: undefined, b: o })) },
);

const casesArb = fc.dictionary(
  fc.oneof(fc.integer({ min: 0, max: 200 }).map((i) => `key-${i}`), fc.string({ minLength: 1, maxLength: 10 }).filter((s) => s.isWellFormed())),
  keyCaseArb,
  { maxKeys: 60, size: 'max' },
);

async function load(side: Side, partition: number, key: string, object: VersionedObject | undefined): Promise<void> {
  if (object !== undefined) await side.trees.put(partition, key, object);
}

async function setup(cases: Record<string, KeyCase>): Promise<{ a: Side; b: Side }> {
  const a = makeSide();
  const b = makeSide();
  for (const [key, c] of Object.entries(cases)) {
    await load(a, 0, key, c.a);
    await load(b, 0, key, c.b);
    // The same keys in another partition, differing too: an exchange of partition 0 must not touch them.
    await load(a, 1, key, c.a);
  }
  return { a, b };
}

/** An empty object carries no history: the tree counts it as absent. */
const present = (o: VersionedObject | undefined): VersionedObject | undefined => (o === undefined || (o.vv.length === 0 && o.siblings.length === 0) ? undefined : o);

function digestDiffers(c: KeyCase, key: string): boolean {
  const a = present(c.a);
  const b = present(c.b);
  const x = a === undefined ? undefined : new TreeHasher().contributionOf(key, a);
  const y = b === undefined ? undefined : new TreeHasher().contributionOf(key, b);
  return x !== y;
}

function expectConverged(a: Side, b: Side, cases: Record<string, KeyCase>): void {
  for (const [key, c] of Object.entries(cases)) {
    const want = present(merge(c.a ?? EMPTY_OBJECT, c.b ?? EMPTY_OBJECT));
    for (const side of [a, b]) {
      const got = present(side.store.get(0, key));
      if (want === undefined) expect(got).toBeUndefined();
      else expect(got !== undefined && equalObjects(got, want)).toBe(true);
    }
  }
  expect(a.trees.root(0)).toBe(b.trees.root(0));
  expect(b.store.scan(1, undefined, 1000)).toEqual([]); // partition 1 untouched on the peer
}

describe('Merkle exchange (property)', () => {
  it('any set of differences between two stores is found exactly, and both end with the DVV merge', async () => {
    await fc.assert(
      fc.asyncProperty(casesArb, async (cases) => {
        const { a, b } = await setup(cases);
        const expected = Object.entries(cases)
          .filter(([key, c]) => digestDiffers(c, key))
          .map(([key]) => key)
          .sort();
        const result = await exchange(link(a, b).deps, 0);
        expect([...result.keys].sort()).toEqual(expected);
        expect(result.status).toBe(expected.length === 0 ? 'in-sync' : 'repaired');
        expect(result.more).toBe(false);
        expectConverged(a, b, cases);
        const again = await exchange(link(b, a).deps, 0);
        expect(again.status).toBe('in-sync');
      }),
      { numRuns: 120 },
    );
  });

  it('with tiny per-exchange and per-batch bounds, repeated exchanges find the same set and converge', async () => {
    await fc.assert(
      fc.asyncProperty(casesArb, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), async (cases, keysMax, batch) => {
        const { a, b } = await setup(cases);
        const expected = Object.entries(cases).filter(([key, c]) => digestDiffers(c, key)).length;
        const seen = new Set<string>();
        let result: ExchangeResult | undefined;
        for (let round = 0; round < 100 && (result === undefined || result.more); round++) {
          result = await exchange(link(a, b, { keysPerExchangeMax: keysMax, keysPerBatchMax: batch }).deps, 0);
          expect(result.keys.length).toBeLessThanOrEqual(keysMax);
          for (const k of result.keys) seen.add(k);
        }
        expect(result!.more).toBe(false);
        expect(seen.size).toBe(expected);
        expectConverged(a, b, cases);
      }),
      { numRuns: 80 },
    );
  });
});

const live = (actor: string, n: number, text: string, base?: VersionedObject, context = base?.vv ?? []): VersionedObject =>
  update(base, context, actor, { value: Buffer.from(text), contentType: 'text/plain', deleted: false, lastModifiedMs: n }, 100);
const tombstone = (actor: string, base: VersionedObject): VersionedObject =>
  update(base, base.vv, actor, { value: new Uint8Array(0), contentType: '', deleted: true, lastModifiedMs: 2 }, 100);

describe('Merkle exchange (cases)', () => {
  it('a delete wins over the stale live value it superseded, on both sides; absence copies, never deletes', async () => {
    const a = makeSide();
    const b = makeSide();
    const v1 = live('n1.x', 1, 'v1');
    const deleted = tombstone('n2.x', v1);
    await a.trees.put(0, 'gone', deleted);
    await b.trees.put(0, 'gone', v1); // b missed the delete
    await a.trees.put(0, 'only-tomb', tombstone('n2.x', live('n1.x', 1, 'x')));
    await b.trees.put(0, 'only-b', v1); // a lacks it entirely: copied, not deleted
    const result = await exchange(link(a, b).deps, 0);
    expect(result.keys.sort()).toEqual(['gone', 'only-b', 'only-tomb']);
    expect(isDeleted(b.store.get(0, 'gone')!)).toBe(true);
    expect(isDeleted(a.store.get(0, 'gone')!)).toBe(true);
    expect(isDeleted(b.store.get(0, 'only-tomb')!)).toBe(true);
    expect(a.store.get(0, 'only-b')!.siblings[0]!.value).toEqual(Buffer.from('v1'));
    expect(result.repairedLocal).toBe(1); // only-b
    expect(result.repairedRemote).toBe(2); // gone, only-tomb
  });

  it('concurrent writes on the two sides end as siblings on both', async () => {
    const a = makeSide();
    const b = makeSide();
    await a.trees.put(0, 'k', live('n1.x', 1, 'left'));
    await b.trees.put(0, 'k', live('n2.x', 1, 'right'));
    const result = await exchange(link(a, b).deps, 0);
    expect(result.repairedLocal + result.repairedRemote).toBe(2);
    expect(a.store.get(0, 'k')!.siblings.length).toBe(2);
    expect(equalObjects(a.store.get(0, 'k')!, b.store.get(0, 'k')!)).toBe(true);
  });

  it('pages segment lists and segment hashes: 3,000 shared keys and 700 differing ones', async () => {
    const a = makeSide();
    const b = makeSide();
    const shared = live('n1.x', 1, 'same');
    for (let i = 0; i < 3000; i++) {
      await a.trees.put(0, `s${i}`, shared);
      await b.trees.put(0, `s${i}`, shared);
    }
    for (let i = 0; i < 700; i++) await (i % 2 === 0 ? a : b).trees.put(0, `d${i}`, live('n3.x', i + 1, `d${i}`));
    const { deps, wire } = link(a, b);
    const result = await exchange(deps, 0);
    expect(result.keys.length).toBe(700);
    expect(result.segmentsDiffering).toBeGreaterThan(256); // more than one aae-keys request
    expect(a.trees.root(0)).toBe(b.trees.root(0));
    expect(a.store.stats().keys).toBe(3700);
    expect(wire.byType['aae-keys']).toBeGreaterThan(0);
  });

  it('pages fetched objects by bytes: six 1 MiB values', async () => {
    const a = makeSide();
    const b = makeSide();
    for (let i = 0; i < 6; i++) {
      await b.trees.put(0, `big${i}`, update(undefined, [], 'n1.x', { value: new Uint8Array(1024 * 1024).fill(i), contentType: 'b', deleted: false, lastModifiedMs: 1 }, 10));
    }
    const { deps, wire } = link(a, b);
    let fetches = 0;
    const ask = deps.ask;
    const counted = { ...deps, ask: (m: Parameters<typeof ask>[0]) => (m.type === 'aae-fetch' && fetches++, ask(m)) };
    const result = await exchange(counted, 0);
    expect(result.repairedLocal).toBe(6);
    expect(fetches).toBeGreaterThanOrEqual(2);
    expect(wire.replyBytes).toBeGreaterThan(6 * 1024 * 1024);
  });

  it('waits while either tree is not built; writes nothing', async () => {
    const a = makeSide();
    const inner = new MemoryStore();
    await inner.put(0, 'k', live('n1.x', 1, 'v'));
    const unbuilt = new TreeStore(inner, 8);
    const b: Side = { store: inner, trees: unbuilt, replica: a.replica };
    expect((await exchange(link(a, b).deps, 0)).status).toBe('not-ready');
    expect((await exchange(link(b, a).deps, 0)).status).toBe('not-ready');
    expect(a.store.stats().keys).toBe(0);
  });

  it('a peer that answers garbage or lists keys of another partition cannot plant data', async () => {
    const a = makeSide();
    const b = makeSide();
    await b.trees.put(0, 'mine', live('n1.x', 1, 'v'));
    await b.trees.put(0, 'planted', live('n1.x', 1, 'v'));
    const { deps } = link(a, b, { partitionOf: (key) => (key === 'planted' ? 5 : 0) });
    const result = await exchange(deps, 0);
    expect(result.keys).toEqual(['mine']);
    expect(a.store.get(0, 'planted')).toBeUndefined();
    for (const garbage of [{ type: 'aae-hashes', ready: true, hashes: new Uint8Array(3) }, { type: 'object', object: null }, null, 'x']) {
      const bad = { ...link(a, b).deps, ask: () => Promise.resolve(garbage as never) };
      await expect(exchange(bad, 0)).rejects.toThrow();
    }
  });
});
