import { describe, expect, it } from 'vitest';
import { nextRing } from '../../src/core/membership/claimant.js';
import { toWire } from '../../src/core/membership/ring-state.js';
import { createRing, preferenceList, validateRing } from '../../src/core/ring/ring.js';
import { ownersMoved, transferKey, transfersBetween } from '../../src/core/transfer/plan.js';

describe('transfer plan (pending transfers of a ring change)', () => {
  const ring = createRing(['n1', 'n2', 'n3'], 256, 3);

  it('a join moves ≈ Q/(S+1) owners, and each new primary receives from an old one that dropped out', () => {
    const next = nextRing(ring, { joining: ['n4'], leaving: [] })!;
    expect(next.version).toBe(ring.version + 1);
    const moved = ownersMoved(ring, next);
    expect(moved).toBeGreaterThanOrEqual(64);
    expect(moved).toBeLessThanOrEqual(Math.ceil(64 * 1.15));
    const pending = next.pending ?? [];
    expect(pending.length).toBeGreaterThan(0);
    for (const t of pending) {
      const before = preferenceList(ring, t.partition).primaries;
      const after = preferenceList(next, t.partition).primaries;
      expect(t.to).toBe('n4');
      expect(before).toContain(t.from);
      expect(after).not.toContain(t.from);
      expect(after).toContain(t.to);
    }
    // one change at a time: no claim while transfers are pending
    expect(nextRing(next, { joining: ['n5'], leaving: [] })).toBeUndefined();
  });

  it('completed transfers are cleared by a later version; the ring settles when all are', () => {
    const next = nextRing(ring, { joining: ['n4'], leaving: [] })!;
    const pending = next.pending!;
    const half = new Set(pending.slice(0, 10).map(transferKey));
    const cleared = nextRing(next, { joining: [], leaving: [] }, half)!;
    expect(cleared.version).toBe(next.version + 1);
    expect(cleared.owners).toEqual(next.owners);
    expect(cleared.pending).toHaveLength(pending.length - 10);
    const settled = nextRing(cleared, { joining: [], leaving: [] }, new Set(pending.map(transferKey)))!;
    expect(settled.pending).toBeUndefined();
  });

  it('a leave moves only the leaver’s partitions and empties it', () => {
    const four = createRing(['n1', 'n2', 'n3', 'n4'], 256, 3);
    const next = nextRing(four, { joining: [], leaving: ['n2'] })!;
    expect(next.owners).not.toContain('n2');
    expect(ownersMoved(four, next)).toBe(four.owners.filter((o) => o === 'n2').length);
    for (const t of next.pending!) expect(t.from).toBe('n2');
    const n2Primary = Array.from({ length: 256 }, (_, p) => p).filter((p) => preferenceList(four, p).primaries.includes('n2'));
    expect(new Set(next.pending!.map((t) => t.partition))).toEqual(new Set(n2Primary));
  });

  /**
   * Found by `npm run sim -- --changes --seeds 600` (seed 543): a joiner was
   * asked to leave before its claim reached it, found itself owning nothing
   * on its older ring, and declared `left`; the claimant's ring still
   * streamed partitions to it, and no ring change could be made again.
   */
  it('a node that left while still involved is claimed away at once; its data is streamed from whoever holds it', () => {
    const joined = nextRing(ring, { joining: ['n4'], leaving: [] })!;
    const someDone = new Set(joined.pending!.slice(0, 5).map(transferKey));
    const partly = nextRing(joined, { joining: [], leaving: [] }, someDone)!;
    const next = nextRing(partly, { joining: [], leaving: [] }, new Set(), undefined, new Set(['n4']))!;
    expect(next.version).toBe(partly.version + 1);
    expect(next.owners).not.toContain('n4');
    for (const t of next.pending ?? []) {
      expect([t.from, t.to]).not.toContain('n4');
      expect(t.from).not.toBe(t.to);
    }
    // Every primary of every partition holds the data already, or receives it from a node that has it.
    const holders = (p: number): string[] => [...preferenceList(ring, p).primaries, ...(partly.pending ?? []).filter((t) => t.partition === p).map((t) => t.from)];
    for (let p = 0; p < next.partitions; p++) {
      const had = preferenceList(ring, p).primaries;
      for (const id of preferenceList(next, p).primaries) {
        if (had.includes(id)) continue;
        const incoming = (next.pending ?? []).filter((t) => t.partition === p && t.to === id);
        expect(incoming.length, `partition ${p}: ${id} gets no data`).toBeGreaterThan(0);
        for (const t of incoming) expect(holders(p)).toContain(t.from);
      }
    }
    // A departed node the ring no longer involves changes nothing; one change at a time holds again.
    expect(nextRing(next, { joining: [], leaving: [] }, new Set(), undefined, new Set(['n4']))).toBeUndefined();
  });

  it('a leaver that left with transfers still pending in this ring (another fork cleared them) is not waited for', () => {
    const four = createRing(['n1', 'n2', 'n3', 'n4'], 256, 3);
    const leaving = nextRing(four, { joining: [], leaving: ['n2'] })!;
    const next = nextRing(leaving, { joining: [], leaving: [] }, new Set(), undefined, new Set(['n2']))!;
    expect(next.version).toBe(leaving.version + 1);
    expect(next.owners).toEqual(leaving.owners);
    expect(next.pending ?? []).toEqual([]);
  });

  it('pending transfers survive the wire and validation, and change the digest', () => {
    const next = nextRing(ring, { joining: ['n4'], leaving: [] })!;
    expect(validateRing(toWire(next))).toEqual(next);
    expect(() => validateRing({ ...toWire(next), pending: [{ partition: 999, from: 'a', to: 'b' }] })).toThrow();
    expect(() => validateRing({ ...toWire(next), pending: [{ partition: 1, from: 'a', to: 'a' }] })).toThrow();
    expect(transfersBetween(ring, ring)).toEqual([]);
  });
});
