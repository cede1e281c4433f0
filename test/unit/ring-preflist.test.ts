/**
 * Preference lists (DESIGN §3): the owners met walking clockwise from a
 * key's partition, repeats skipped; the first N are primaries, every other
 * member a fallback; with zones, the primaries span as many zones as possible.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimJoin, createRing, members, preferenceList, type Ring } from '../../src/core/ring/ring.js';

const SEED = 20240611;
const ids = (count: number): string[] => Array.from({ length: count }, (_, i) => `n${String(i).padStart(3, '0')}`);

/** Reference: every member in the order the walk meets it. */
function walkOrder(ring: Ring, partition: number): string[] {
  const seen: string[] = [];
  for (let i = 0; i < ring.partitions; i++) {
    const owner = ring.owners[(partition + i) % ring.partitions]!;
    if (!seen.includes(owner)) seen.push(owner);
  }
  return seen;
}

const ringArb = fc
  .record({ q: fc.constantFrom(64, 256, 1024), n: fc.integer({ min: 1, max: 6 }), s: fc.integer({ min: 1, max: 16 }) })
  .map(({ q, n, s }) => createRing(ids(s), q, n));
const ringAndPartitionArb = ringArb.chain((ring) => fc.record({ ring: fc.constant(ring), partition: fc.nat({ max: ring.partitions - 1 }) }));

describe('preferenceList', () => {
  it('has min(N, S) distinct primaries, then every other member as a fallback, in walk order', () => {
    fc.assert(
      fc.property(ringAndPartitionArb, ({ ring, partition }) => {
        const list = preferenceList(ring, partition);
        const all = [...list.primaries, ...list.fallbacks];
        const s = members(ring).length;
        expect(list.partition).toBe(partition);
        expect(list.primaries.length).toBe(Math.min(ring.replicas, s));
        expect(new Set(all).size).toBe(all.length);
        expect([...all].sort()).toEqual(members(ring));
        expect(all).toEqual(walkOrder(ring, partition));
        expect(list.primaries[0]).toBe(ring.owners[partition]);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('makes every member a primary when there are fewer members than N', () => {
    const ring = createRing(['a', 'b'], 64, 3);
    for (let p = 0; p < 64; p++) {
      const list = preferenceList(ring, p);
      expect([...list.primaries].sort()).toEqual(['a', 'b']);
      expect(list.fallbacks).toEqual([]);
    }
  });

  it('returns fresh arrays: a caller mutating one does not affect the next call', () => {
    const ring = createRing(ids(6), 64, 3);
    const first = preferenceList(ring, 5);
    const snapshot = structuredClone(first);
    first.primaries.push('junk');
    first.fallbacks.length = 0;
    expect(preferenceList(ring, 5)).toEqual(snapshot);
  });

  it('answers every ring it is given, old or new (per-ring tables do not leak between rings)', () => {
    const old = createRing(ids(6), 64, 3);
    const next = claimJoin(old, 'z');
    for (let p = 0; p < 64; p++) {
      expect([...preferenceList(old, p).primaries, ...preferenceList(old, p).fallbacks]).toEqual(walkOrder(old, p));
      expect([...preferenceList(next, p).primaries, ...preferenceList(next, p).fallbacks]).toEqual(walkOrder(next, p));
    }
  });

  it('rejects a partition out of range', () => {
    const ring = createRing(ids(3), 64, 3);
    for (const p of [-1, 64, 1.5, Number.NaN]) expect(() => preferenceList(ring, p)).toThrow();
  });
});

describe('preferenceList with zones', () => {
  const zonedArb = fc
    .record({ q: fc.constantFrom(64, 256), s: fc.integer({ min: 3, max: 16 }), zoneCount: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 5 }) })
    .chain(({ q, s, zoneCount, n }) =>
      fc.record({
        ring: fc.constant(createRing(ids(s), q, n)),
        // Each zone gets at least one node (the first zoneCount ids), the rest at random.
        zoneOf: fc.array(fc.nat({ max: zoneCount - 1 }), { minLength: s, maxLength: s }).map((zs) => zs.map((z, i) => (i < Math.min(zoneCount, s) ? i : z))),
        partition: fc.nat({ max: q - 1 }),
      }),
    );

  it('primaries span min(N, zones) zones; all members still listed once, primaries and fallbacks in walk order', () => {
    fc.assert(
      fc.property(zonedArb, ({ ring, zoneOf, partition }) => {
        const zones = new Map(ids(zoneOf.length).map((id, i) => [id, `z${zoneOf[i]}`]));
        const zoneCount = new Set(zones.values()).size;
        const list = preferenceList(ring, partition, zones);
        const order = walkOrder(ring, partition);
        const all = [...list.primaries, ...list.fallbacks];
        expect(list.primaries.length).toBe(Math.min(ring.replicas, order.length));
        expect(new Set(list.primaries.map((id) => zones.get(id))).size).toBe(Math.min(ring.replicas, zoneCount));
        expect([...all].sort()).toEqual([...order].sort());
        expect(list.primaries).toEqual(order.filter((id) => list.primaries.includes(id)));
        expect(list.fallbacks).toEqual(order.filter((id) => !list.primaries.includes(id)));
        expect(list.primaries[0]).toBe(ring.owners[partition]);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('with 3 zones and N=3, the primaries of every partition are in 3 zones', () => {
    const ring = createRing(ids(9), 256, 3);
    // Zones deliberately aligned with the claim's neighbours: n000..n002 in z0, and so on.
    const zones = new Map(ids(9).map((id, i) => [id, `z${Math.floor(i / 3)}`]));
    for (let p = 0; p < 256; p++) {
      const primaries = preferenceList(ring, p, zones).primaries;
      expect(new Set(primaries.map((id) => zones.get(id))).size).toBe(3);
    }
  });

  it('treats a node without a zone as a zone of its own, and an empty map as no zones', () => {
    const ring = createRing(ids(6), 64, 3);
    const zones = new Map([
      ['n000', 'z'],
      ['n001', 'z'],
      ['n002', 'z'],
    ]);
    for (let p = 0; p < 64; p++) {
      const primaries = preferenceList(ring, p, zones).primaries;
      expect(primaries.filter((id) => zones.has(id)).length).toBeLessThanOrEqual(1);
      expect(preferenceList(ring, p, new Map())).toEqual(preferenceList(ring, p));
    }
  });
});
