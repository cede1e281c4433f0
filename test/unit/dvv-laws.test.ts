/**
 * Algebraic laws of the DVV sync rule (DESIGN §4: "merges are commutative,
 * associative, idempotent (property-tested)"), checked on two populations:
 *  - realistic replica states from a simulated 3–4 node cluster;
 *  - arbitrary valid objects (no shared history; the same dot may even carry
 *    different bytes, which merge must still resolve deterministically).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_OBJECT, equalObjects, merge, update } from '../../src/core/version/dvv.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import { counterOf, covers, descends, equalVV, mergeVV, sameDot, withDot } from '../../src/core/version/vector.js';
import {
  clusterRunArb,
  deepCopy,
  dotKey,
  invariantViolation,
  plain,
  realisticObjectsArb,
  syncAll,
  validObjectArb,
} from './support/dvv-arbitraries.js';

const RUNS = { numRuns: 300 } as const;

const populations: ReadonlyArray<[string, (k: number) => fc.Arbitrary<VersionedObject[]>]> = [
  ['realistic cluster states', (k) => realisticObjectsArb(k)],
  ['arbitrary valid objects', (k) => fc.array(validObjectArb(), { minLength: k, maxLength: k })],
];

/** Both comparisons the brief asks for: equalObjects, and deep equality of vv, dots and contents. */
function expectSame(x: VersionedObject, y: VersionedObject): void {
  expect(equalObjects(x, y)).toBe(true);
  expect(plain(x)).toEqual(plain(y));
}

const has = (obj: VersionedObject, key: string): boolean => obj.siblings.some((s) => dotKey(s.dot) === key);

describe.each(populations)('merge laws on %s', (_name, objects) => {
  it('is commutative', () => {
    fc.assert(
      fc.property(objects(2), ([a, b]) => {
        expectSame(merge(a!, b!), merge(b!, a!));
      }),
      RUNS,
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(objects(3), ([a, b, c]) => {
        expectSame(merge(merge(a!, b!), c!), merge(a!, merge(b!, c!)));
        // and any bracketing/order of three agrees
        expectSame(merge(merge(a!, b!), c!), merge(merge(c!, a!), b!));
      }),
      RUNS,
    );
  });

  it('is idempotent (also on a structural copy, bypassing the identity shortcut)', () => {
    fc.assert(
      fc.property(objects(2), ([a, b]) => {
        expectSame(merge(a!, a!), a!);
        expectSame(merge(a!, deepCopy(a!)), a!);
        const ab = merge(a!, b!);
        expectSame(merge(ab, b!), ab);
        expectSame(merge(a!, ab), ab);
        expectSame(merge(ab, deepCopy(ab)), ab);
      }),
      RUNS,
    );
  });

  it('has EMPTY_OBJECT as identity', () => {
    fc.assert(
      fc.property(objects(1), ([a]) => {
        expectSame(merge(a!, EMPTY_OBJECT), a!);
        expectSame(merge(EMPTY_OBJECT, a!), a!);
      }),
      RUNS,
    );
  });

  it('keeps the object invariants and its vv is exactly the pointwise max', () => {
    fc.assert(
      fc.property(objects(2), ([a, b]) => {
        const m = merge(a!, b!);
        expect(invariantViolation(m)).toBeNull();
        expect(descends(m.vv, a!.vv)).toBe(true);
        expect(descends(m.vv, b!.vv)).toBe(true);
        // nothing beyond a ∪ b: every entry is the max of the two sides
        for (const [actor, c] of m.vv) expect(c).toBe(Math.max(counterOf(a!.vv, actor), counterOf(b!.vv, actor)));
        expect(equalVV(m.vv, mergeVV(b!.vv, a!.vv))).toBe(true);
        for (const s of m.siblings) expect(covers(m.vv, s.dot)).toBe(true);
      }),
      RUNS,
    );
  });

  it('drops exactly the dominated siblings: nothing dominated survives, nothing else is lost', () => {
    fc.assert(
      fc.property(objects(2), ([a, b]) => {
        const m = merge(a!, b!);
        for (const s of m.siblings) {
          const k = dotKey(s.dot);
          const inA = has(a!, k);
          const inB = has(b!, k);
          expect(inA || inB).toBe(true); // merge invents nothing
          if (!inA) expect(covers(a!.vv, s.dot)).toBe(false); // a had seen and dropped it
          if (!inB) expect(covers(b!.vv, s.dot)).toBe(false);
          // and it is one of the two sides' siblings, bytes and all
          const from = [...a!.siblings, ...b!.siblings].filter((x) => sameDot(x.dot, s.dot));
          expect(from).toContain(s);
        }
        for (const [x, other] of [
          [a!, b!],
          [b!, a!],
        ] as const) {
          for (const s of x.siblings) {
            const survives = has(other, dotKey(s.dot)) || !covers(other.vv, s.dot);
            expect(has(m, dotKey(s.dot))).toBe(survives);
          }
        }
      }),
      RUNS,
    );
  });

  it('is deterministic when two sides disagree on the bytes of one dot', () => {
    fc.assert(
      fc.property(objects(1), fc.uint8Array({ maxLength: 8 }), fc.boolean(), fc.integer(), ([a], bytes, deleted, dt) => {
        if (a!.siblings.length === 0) return;
        const b: VersionedObject = {
          vv: a!.vv,
          siblings: a!.siblings.map((s, i) => (i === 0 ? { ...s, value: bytes, deleted, lastModifiedMs: s.lastModifiedMs + dt } : s)),
        };
        expectSame(merge(a!, b), merge(b, a!));
        expectSame(merge(merge(a!, b), a!), merge(a!, b));
      }),
      RUNS,
    );
  });
});

describe('realistic cluster histories', () => {
  it('every state any replica passes through satisfies the object invariants', () => {
    fc.assert(
      fc.property(clusterRunArb(), (run) => {
        for (const s of run.snapshots) expect(invariantViolation(s)).toBeNull();
      }),
      RUNS,
    );
  });

  it('after all replicas sync, all are equal, and equal to the merge of all of them in any order', () => {
    fc.assert(
      fc.property(clusterRunArb(), fc.func(fc.integer()), (run, key) => {
        const synced = syncAll(run.replicas);
        for (const r of synced) expectSame(r, synced[0]!);
        const folded = run.replicas.reduce(merge, EMPTY_OBJECT);
        expectSame(synced[0]!, folded);
        const shuffled = run.replicas
          .map((r, i) => [key(i), i, r] as const)
          .sort((x, y) => x[0] - y[0] || x[1] - y[1])
          .map(([, , r]) => r);
        expectSame(shuffled.reduceRight((acc, r) => merge(r, acc), EMPTY_OBJECT), folded);
        // syncing is stable: once converged, another round changes nothing
        for (const [i, r] of syncAll(synced).entries()) expectSame(r, synced[i]!);
      }),
      RUNS,
    );
  });

  it('update: fresh dot, vv = local ⊔ context + dot, siblings = (local minus covered-by-context) + new, input untouched', () => {
    fc.assert(
      fc.property(clusterRunArb({ minOps: 5 }), (run) => {
        for (const w of run.writes) {
          const { before, after, context, dot } = w;
          expect(invariantViolation(after)).toBeNull();
          expect(covers(before.vv, dot)).toBe(false);
          expect(covers(context, dot)).toBe(false);
          expect(dot.counter).toBe(Math.max(counterOf(before.vv, dot.actor), counterOf(context, dot.actor)) + 1);
          expect(equalVV(after.vv, withDot(mergeVV(before.vv, context), dot))).toBe(true);
          const expected = [...before.siblings.filter((s) => !covers(context, s.dot)).map((s) => dotKey(s.dot)), dotKey(dot)].sort();
          expect(after.siblings.map((s) => dotKey(s.dot)).sort()).toEqual(expected);
          const fresh = after.siblings.find((s) => sameDot(s.dot, dot))!;
          expect(fresh.deleted).toBe(w.deleted);
          // surviving old siblings are the same objects, unchanged
          for (const s of after.siblings) if (!sameDot(s.dot, dot)) expect(before.siblings).toContain(s);
        }
        // re-running an update from the recorded input gives the same result (pure, deterministic)
        const w = run.writes[run.writes.length - 1];
        if (w) {
          const sib = w.after.siblings.find((s) => sameDot(s.dot, w.dot))!;
          const again = update(w.before, w.context, w.coordinator, { ...sib }, Number.MAX_SAFE_INTEGER);
          expectSame(again, w.after);
        }
      }),
      RUNS,
    );
  });

  it('merging a write into any replica never loses it unless that replica had seen (covered) its dot', () => {
    fc.assert(
      fc.property(clusterRunArb({ minOps: 5 }), fc.nat(), (run, pick) => {
        for (const w of run.writes) {
          const other = run.snapshots[pick % run.snapshots.length]!;
          const m = merge(w.after, other);
          const kept = m.siblings.some((s) => sameDot(s.dot, w.dot));
          const otherHas = other.siblings.some((s) => sameDot(s.dot, w.dot));
          expect(kept).toBe(otherHas || !covers(other.vv, w.dot));
        }
      }),
      RUNS,
    );
  });
});
