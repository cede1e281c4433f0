/**
 * Semantics of the DVV core (DESIGN §4): what `update` keeps and drops, what
 * survives a sync, the no-lost-writes guarantee, sibling explosion, the
 * sibling bound, and tombstones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DynakvError } from '../../src/core/errors.js';
import { LIMITS } from '../../src/core/limits.js';
import { EMPTY_OBJECT, equalObjects, isBehind, isDeleted, liveSiblings, merge, update } from '../../src/core/version/dvv.js';
import type { ActorId, VersionedObject, VersionVector } from '../../src/core/version/types.js';
import { covers, EMPTY_VV, sameDot } from '../../src/core/version/vector.js';
import {
  clusterRunArb,
  deepFreeze,
  dotKey,
  invariantViolation,
  plain,
  simulate,
  syncAll,
  type ClusterOp,
} from './support/dvv-arbitraries.js';

const N1: ActorId = 'n1.e1';
const N2: ActorId = 'n2.e1';
const N3: ActorId = 'n3.e1';
const MAX = LIMITS.siblingsMaxDefault;

const enc = new TextEncoder();
const dec = new TextDecoder();
let clock = 1_700_000_000_000;

function put(
  local: VersionedObject | undefined,
  context: VersionVector,
  actor: ActorId,
  text: string,
  opts: { deleted?: boolean; max?: number } = {},
): VersionedObject {
  const out = update(
    local,
    context,
    actor,
    { value: enc.encode(text), contentType: 'text/plain', deleted: opts.deleted ?? false, lastModifiedMs: ++clock },
    opts.max ?? MAX,
  );
  expect(invariantViolation(out)).toBeNull();
  return deepFreeze(out);
}

const del = (local: VersionedObject | undefined, context: VersionVector, actor: ActorId, max = MAX): VersionedObject =>
  put(local, context, actor, '', { deleted: true, max });

/** Sibling values as text, in dot order. */
const texts = (o: VersionedObject): string[] => o.siblings.map((s) => dec.decode(s.value));
const liveTexts = (o: VersionedObject): string[] => liveSiblings(o).map((s) => dec.decode(s.value));
const dots = (o: VersionedObject): string[] => o.siblings.map((s) => `${s.dot.actor}:${s.dot.counter}`);

/** Exchange: both replicas end with the merge. */
function sync(a: VersionedObject, b: VersionedObject): [VersionedObject, VersionedObject] {
  const m = deepFreeze(merge(a, b));
  return [m, m];
}

function expectTooMany(fn: () => unknown, siblings: number, limit: number): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DynakvError);
  expect((thrown as DynakvError).code).toBe('too_many_siblings');
  expect((thrown as DynakvError).details).toMatchObject({ siblings, limit });
}

describe('update: writes with and without context', () => {
  it('a first write on an absent key makes one sibling with the coordinator’s first dot', () => {
    const o = put(undefined, EMPTY_VV, N1, 'a');
    expect(o.vv).toEqual([[N1, 1]]);
    expect(dots(o)).toEqual([`${N1}:1`]);
    expect(texts(o)).toEqual(['a']);
    // undefined local and EMPTY_OBJECT are the same thing
    expect(plain(update(EMPTY_OBJECT, EMPTY_VV, N1, { value: o.siblings[0]!.value, contentType: 'text/plain', deleted: false, lastModifiedMs: o.siblings[0]!.lastModifiedMs }, MAX))).toEqual(plain(o));
  });

  it('a PUT without context on an existing key adds a concurrent sibling', () => {
    const a = put(undefined, EMPTY_VV, N1, 'a');
    const b = put(a, EMPTY_VV, N1, 'b');
    expect(texts(b)).toEqual(['a', 'b']);
    expect(b.vv).toEqual([[N1, 2]]);
    const c = put(b, EMPTY_VV, N2, 'c'); // another coordinator (had b replicated), still no context
    expect(texts(c)).toEqual(['a', 'b', 'c']);
    expect(c.vv).toEqual([
      [N1, 2],
      [N2, 1],
    ]);
  });

  it('a PUT with context replaces exactly the siblings the context covers, and nothing else', () => {
    let o = put(undefined, EMPTY_VV, N1, 'a'); // n1:1
    o = put(o, EMPTY_VV, N1, 'b'); // n1:2
    const ctx = o.vv; // client reads {a, b}
    o = put(o, EMPTY_VV, N1, 'c'); // n1:3, concurrent, the client did not see it
    o = put(o, ctx, N1, 'd'); // n1:4 with context {n1:2}
    expect(texts(o)).toEqual(['c', 'd']);
    expect(o.vv).toEqual([[N1, 4]]);
  });

  it('a context covering only part of the siblings drops only that part (across actors)', () => {
    let r1 = put(undefined, EMPTY_VV, N1, 'x1'); // n1:1
    let r2 = put(undefined, EMPTY_VV, N2, 'y1'); // n2:1
    [r1, r2] = sync(r1, r2);
    const ctx = r1.vv; // saw x1, y1
    r2 = put(r2, EMPTY_VV, N2, 'y2'); // n2:2 unseen by the client
    r1 = put(r1, EMPTY_VV, N1, 'x2'); // n1:2 unseen by the client
    [r1, r2] = sync(r1, r2);
    const w = put(r2, ctx, N2, 'z'); // n2:3
    expect(texts(w)).toEqual(['x2', 'y2', 'z']);
    expect(w.vv).toEqual([
      [N1, 2],
      [N2, 3],
    ]);
    // a context that covers everything the client could not have seen is not what the
    // server hands out; but a context equal to the current vv replaces all
    expect(texts(put(w, w.vv, N3, 'all'))).toEqual(['all']);
  });

  it('the new dot is one past what both the coordinator and the context have seen of that coordinator', () => {
    let r1 = put(undefined, EMPTY_VV, N1, 'a'); // n1:1
    r1 = put(r1, EMPTY_VV, N1, 'b'); // n1:2
    // a context carrying n1:2 sent to a coordinator n1 whose *own* object is empty
    // (cannot happen while n1 keeps its data, but update must never reuse a dot)
    const o = put(undefined, r1.vv, N1, 'c');
    expect(dots(o)).toEqual([`${N1}:3`]);
  });

  it('a write read at replica A, coordinated at B which had not seen A’s latest sibling: that sibling is dropped after sync', () => {
    let a = put(undefined, EMPTY_VV, N1, 'v1'); // n1:1 at A only
    let b: VersionedObject = EMPTY_OBJECT; // B never got v1
    const ctx = a.vv; // client reads A: sees v1
    b = put(b, ctx, N2, 'v2'); // coordinated at B
    expect(texts(b)).toEqual(['v2']);
    expect(covers(b.vv, { actor: N1, counter: 1 })).toBe(true); // B knows v1 is superseded
    expect(texts(a)).toEqual(['v1']); // A still has it until it syncs
    [a, b] = sync(a, b);
    expect(texts(a)).toEqual(['v2']);
    // and the same in the other merge direction
    expect(texts(merge(put(undefined, EMPTY_VV, N1, 'v1'), put(undefined, ctx, N2, 'v2')))).toEqual(['v2']);
  });

  it('…but a sibling B holds that the client never saw survives that write and the sync', () => {
    let a = put(undefined, EMPTY_VV, N1, 'v1'); // n1:1 at A
    let b = put(undefined, EMPTY_VV, N2, 'w1'); // n2:1 at B, concurrent, unknown to the client
    const ctx = a.vv;
    b = put(b, ctx, N2, 'v2'); // n2:2
    expect(texts(b)).toEqual(['w1', 'v2']);
    [a, b] = sync(a, b);
    expect(texts(a)).toEqual(['w1', 'v2']);
    expect(liveTexts(b)).toEqual(['w1', 'v2']);
  });

  it('update never mutates its input object or context', () => {
    const base = put(put(undefined, EMPTY_VV, N1, 'a'), EMPTY_VV, N2, 'b');
    const before = plain(base);
    const ctx = deepFreeze({ vv: base.vv, siblings: [] }).vv;
    put(base, ctx, N3, 'c');
    put(base, EMPTY_VV, N1, 'd');
    expect(plain(base)).toEqual(before);
  });

  it('isBehind tells read repair who lacks something', () => {
    const o = put(undefined, EMPTY_VV, N1, 'a');
    expect(isBehind(undefined, EMPTY_OBJECT)).toBe(false);
    expect(isBehind(undefined, o)).toBe(true);
    expect(isBehind(EMPTY_OBJECT, o)).toBe(true);
    expect(isBehind(o, o)).toBe(false);
    expect(isBehind({ vv: o.vv.map(([x, c]) => [x, c] as const), siblings: o.siblings.slice() }, o)).toBe(false);
    const o2 = put(o, o.vv, N1, 'b');
    expect(isBehind(o, o2)).toBe(true);
    expect(equalObjects(o, o2)).toBe(false);
  });
});

describe('no acknowledged write is lost (simulated clusters)', () => {
  /**
   * For every dot minted by `update`: if no write's context ever covered it, it is a
   * sibling of the fully synced state; if it is gone, some write's context covered it
   * *and that client saw it as a sibling* on the replica it read. Conversely, a dot
   * covered by some successful write's context is gone once everything has synced.
   */
  it('final siblings = minted dots − dots covered by a later write’s context; every dropped dot was seen', () => {
    fc.assert(
      fc.property(clusterRunArb({ maxOps: 80 }), (run) => {
        const synced = syncAll(run.replicas);
        const final = synced[0]!;
        const finalDots = new Set(final.siblings.map((s) => dotKey(s.dot)));
        const minted = new Set(run.writes.map((w) => dotKey(w.dot)));
        for (const k of finalDots) expect(minted.has(k)).toBe(true);
        run.writes.forEach((w, i) => {
          const later = run.writes.slice(i + 1);
          const coveredBy = later.filter((x) => covers(x.context, w.dot));
          // a context can only cover dots that existed when it was read
          for (const x of run.writes.slice(0, i + 1)) expect(covers(x.context, w.dot)).toBe(false);
          if (coveredBy.length === 0) {
            expect(finalDots.has(dotKey(w.dot)), `lost ${dotKey(w.dot)}`).toBe(true);
          } else {
            expect(finalDots.has(dotKey(w.dot))).toBe(false);
            expect(coveredBy.some((x) => x.seen.some((d) => sameDot(d, w.dot)))).toBe(true);
          }
        });
        // the synced state keeps the tombstone flags of the writes that made them
        for (const s of final.siblings) {
          const w = run.writes.find((x) => sameDot(x.dot, s.dot))!;
          expect(s.deleted).toBe(w.deleted);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a hand-written partitioned history keeps both sides’ writes', () => {
    const ops: ClusterOp[] = [
      { kind: 'write', client: 0, coordinator: 0, useContext: false, deleted: false }, // n1:1
      { kind: 'sync', from: 0, to: 1, both: true },
      { kind: 'sync', from: 0, to: 2, both: true },
      // partition {n1} | {n2, n3}: both sides read and overwrite the same version
      { kind: 'read', client: 0, replica: 0 },
      { kind: 'read', client: 1, replica: 1 },
      { kind: 'write', client: 0, coordinator: 0, useContext: true, deleted: false }, // n1:2
      { kind: 'write', client: 1, coordinator: 1, useContext: true, deleted: false }, // n2:1
      { kind: 'sync', from: 1, to: 2, both: true },
      { kind: 'read', client: 2, replica: 2 },
      { kind: 'write', client: 2, coordinator: 2, useContext: true, deleted: true }, // n3:1 deletes n2:1
    ];
    const run = simulate(3, ops);
    const final = syncAll(run.replicas)[0]!;
    expect(dots(final)).toEqual([`${N1}:2`, `${N3}:1`]);
    expect(liveSiblings(final).map((s) => s.dot.actor)).toEqual([N1]);
  });
});

describe('sibling explosion (riak_test sibling_explosion)', () => {
  const CYCLES = 100;

  it('two clients, 100 interleaved stale read-modify-write cycles each, one coordinator: exactly 2 siblings', () => {
    let obj: VersionedObject = EMPTY_OBJECT;
    let ctxA: VersionVector = EMPTY_VV;
    let ctxB: VersionVector = EMPTY_VV;
    let maxSeen = 0;
    for (let i = 0; i < CYCLES; i++) {
      ctxA = obj.vv; // A reads
      obj = put(obj, ctxB, N1, `b${i}`); // B writes in between, with its (stale) context
      maxSeen = Math.max(maxSeen, obj.siblings.length);
      ctxB = obj.vv; // B reads
      obj = put(obj, ctxA, N1, `a${i}`); // A writes with its stale context
      maxSeen = Math.max(maxSeen, obj.siblings.length);
    }
    expect(obj.siblings).toHaveLength(2);
    expect(texts(obj).sort()).toEqual([`a${CYCLES - 1}`, `b${CYCLES - 1}`]);
    expect(maxSeen).toBeLessThanOrEqual(2);
    expect(obj.vv).toEqual([[N1, 2 * CYCLES]]);
  });

  it('same, with both clients reading before either writes', () => {
    let obj: VersionedObject = EMPTY_OBJECT;
    for (let i = 0; i < CYCLES; i++) {
      const ctxA = obj.vv;
      const ctxB = obj.vv;
      obj = put(obj, ctxA, N1, `a${i}`);
      obj = put(obj, ctxB, N1, `b${i}`); // stale: misses a{i}
      expect(obj.siblings.length).toBeLessThanOrEqual(2);
    }
    expect(texts(obj).sort()).toEqual([`a${CYCLES - 1}`, `b${CYCLES - 1}`]);
  });

  it('two coordinators that sync after each write: exactly 2 siblings', () => {
    let r1: VersionedObject = EMPTY_OBJECT;
    let r2: VersionedObject = EMPTY_OBJECT;
    let ctxA: VersionVector = EMPTY_VV;
    let ctxB: VersionVector = EMPTY_VV;
    for (let i = 0; i < CYCLES; i++) {
      ctxA = r1.vv; // A reads n1
      r2 = put(r2, ctxB, N2, `b${i}`); // B writes at n2 with its stale context
      [r1, r2] = sync(r1, r2);
      ctxB = r2.vv; // B reads n2
      r1 = put(r1, ctxA, N1, `a${i}`); // A writes at n1 with its stale context
      [r1, r2] = sync(r1, r2);
      expect(r1.siblings.length).toBeLessThanOrEqual(2);
    }
    expect(r1).toBe(r2);
    expect(texts(r1).sort()).toEqual([`a${CYCLES - 1}`, `b${CYCLES - 1}`]);
    expect(r1.vv).toEqual([
      [N1, CYCLES],
      [N2, CYCLES],
    ]);
  });

  it('two coordinators that sync only now and then still stay at ≤ 2 live siblings once synced', () => {
    let r1: VersionedObject = EMPTY_OBJECT;
    let r2: VersionedObject = EMPTY_OBJECT;
    let ctxA: VersionVector = EMPTY_VV;
    let ctxB: VersionVector = EMPTY_VV;
    for (let i = 0; i < CYCLES; i++) {
      ctxA = r1.vv;
      r2 = put(r2, ctxB, N2, `b${i}`);
      ctxB = r2.vv;
      r1 = put(r1, ctxA, N1, `a${i}`);
      if (i % 7 === 6) [r1, r2] = sync(r1, r2);
    }
    [r1, r2] = sync(r1, r2);
    expect(texts(r1).sort()).toEqual([`a${CYCLES - 1}`, `b${CYCLES - 1}`]);
  });

  it('a client that reads right before it writes keeps a single sibling', () => {
    let obj: VersionedObject = EMPTY_OBJECT;
    for (let i = 0; i < CYCLES; i++) obj = put(obj, obj.vv, i % 2 === 0 ? N1 : N2, `v${i}`);
    expect(texts(obj)).toEqual([`v${CYCLES - 1}`]);
  });
});

describe('the sibling bound', () => {
  it('update throws too_many_siblings past siblingsMax, and leaves the stored object unchanged', () => {
    const limit = 5;
    let obj: VersionedObject = EMPTY_OBJECT;
    for (let i = 0; i < limit; i++) obj = put(obj, EMPTY_VV, N1, `s${i}`, { max: limit });
    expect(obj.siblings).toHaveLength(limit); // exactly the limit is allowed
    const before = plain(obj);
    expectTooMany(() => update(obj, EMPTY_VV, N1, { value: enc.encode('x'), contentType: 'text/plain', deleted: false, lastModifiedMs: 0 }, limit), limit, limit);
    expectTooMany(() => update(obj, EMPTY_VV, N2, { value: enc.encode('x'), contentType: 'text/plain', deleted: true, lastModifiedMs: 0 }, limit), limit, limit);
    expect(plain(obj)).toEqual(before);
    // a write that resolves at least one sibling fits
    const ctxFirst: VersionVector = [[N1, 1]];
    const partial = put(obj, ctxFirst, N1, 'y', { max: limit });
    expect(partial.siblings).toHaveLength(limit);
    // a write with the full context resolves them all
    expect(texts(put(obj, obj.vv, N1, 'z', { max: limit }))).toEqual(['z']);
    expect(plain(obj)).toEqual(before);
  });

  it('the default bound: 100 siblings accepted, the 101st concurrent write refused', () => {
    let obj: VersionedObject = EMPTY_OBJECT;
    for (let i = 0; i < MAX; i++) obj = put(obj, EMPTY_VV, i % 2 ? N1 : N2, `s${i}`);
    expect(obj.siblings).toHaveLength(MAX);
    expectTooMany(() => put(obj, EMPTY_VV, N3, 'one too many'), MAX, MAX);
  });

  it('siblingsMax = 1 allows only writes that resolve the current sibling', () => {
    const o = put(undefined, EMPTY_VV, N1, 'a', { max: 1 });
    expectTooMany(() => put(o, EMPTY_VV, N1, 'b', { max: 1 }), 1, 1);
    expect(texts(put(o, o.vv, N1, 'b', { max: 1 }))).toEqual(['b']);
  });

  it('replication (merge) is never bounded: merging two full replicas may exceed the write bound', () => {
    const limit = 3;
    let r1: VersionedObject = EMPTY_OBJECT;
    let r2: VersionedObject = EMPTY_OBJECT;
    for (let i = 0; i < limit; i++) {
      r1 = put(r1, EMPTY_VV, N1, `a${i}`, { max: limit });
      r2 = put(r2, EMPTY_VV, N2, `b${i}`, { max: limit });
    }
    const m = merge(r1, r2);
    expect(m.siblings).toHaveLength(2 * limit);
    expectTooMany(() => put(m, EMPTY_VV, N1, 'c', { max: limit }), 2 * limit, limit);
  });

  it('in random histories a refused write changes nothing and a write never exceeds the bound', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<ClusterOp>(
        { kind: 'write', client: 0, coordinator: 0, useContext: false, deleted: false },
        { kind: 'write', client: 1, coordinator: 1, useContext: true, deleted: false },
        { kind: 'read', client: 1, replica: 1 },
        { kind: 'sync', from: 0, to: 1, both: false },
        { kind: 'sync', from: 1, to: 0, both: true },
      ), { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (ops, limit) => {
        const run = simulate(2, ops, limit);
        for (const w of run.writes) expect(w.after.siblings.length).toBeLessThanOrEqual(limit);
        // every refused write is not in `writes`; replica objects are frozen, so unchanged
        expect(run.writes.length + run.rejected).toBe(ops.filter((o) => o.kind === 'write').length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('tombstones', () => {
  it('EMPTY_OBJECT reads as absent', () => {
    expect(isDeleted(EMPTY_OBJECT)).toBe(true);
    expect(liveSiblings(EMPTY_OBJECT)).toEqual([]);
  });

  it('a delete with context leaves only a tombstone: isDeleted, no live siblings, history kept', () => {
    let o = put(undefined, EMPTY_VV, N1, 'a');
    o = put(o, EMPTY_VV, N1, 'b');
    expect(isDeleted(o)).toBe(false);
    const d = del(o, o.vv, N1);
    expect(d.siblings).toHaveLength(1);
    expect(d.siblings[0]!.deleted).toBe(true);
    expect(isDeleted(d)).toBe(true);
    expect(liveSiblings(d)).toEqual([]);
    expect(d.vv).toEqual([[N1, 3]]); // the tombstone keeps the causal history
  });

  it('a delete with context, then a concurrent write without context: one live sibling + the tombstone', () => {
    let o = put(undefined, EMPTY_VV, N1, 'a');
    o = del(o, o.vv, N1);
    o = put(o, EMPTY_VV, N2, 'b'); // a writer that never read
    expect(o.siblings).toHaveLength(2);
    expect(isDeleted(o)).toBe(false);
    expect(liveTexts(o)).toEqual(['b']);
    expect(o.siblings.filter((s) => s.deleted)).toHaveLength(1);
    // a write with the read's context resolves both
    const r = put(o, o.vv, N1, 'c');
    expect(texts(r)).toEqual(['c']);
    expect(isDeleted(r)).toBe(false);
  });

  it('a delete without context adds a tombstone next to the live value: the key still reads', () => {
    let o = put(undefined, EMPTY_VV, N1, 'a');
    o = del(o, EMPTY_VV, N1);
    expect(isDeleted(o)).toBe(false);
    expect(liveTexts(o)).toEqual(['a']);
    expect(o.siblings).toHaveLength(2);
  });

  it('a delete of an absent key makes a tombstone object that reads as absent', () => {
    const o = del(undefined, EMPTY_VV, N1);
    expect(isDeleted(o)).toBe(true);
    expect(o.vv).toEqual([[N1, 1]]);
  });

  it('a delete at one replica and a concurrent write at another, from the same read: after sync, one live + one tombstone', () => {
    let r1 = put(undefined, EMPTY_VV, N1, 'a');
    let r2: VersionedObject;
    [r1, r2] = sync(r1, EMPTY_OBJECT);
    const ctx = r1.vv;
    r1 = del(r1, ctx, N1);
    r2 = put(r2, ctx, N2, 'b');
    [r1, r2] = sync(r1, r2);
    expect(texts(r1)).toEqual(['', 'b']);
    expect(r1.siblings.map((s) => s.deleted)).toEqual([true, false]);
    expect(isDeleted(r1)).toBe(false);
    expect(liveTexts(r2)).toEqual(['b']);
  });

  it('two concurrent deletes: two tombstones, the key reads as absent', () => {
    const base = put(undefined, EMPTY_VV, N1, 'a');
    const d1 = del(base, base.vv, N1);
    const d2 = del(base, base.vv, N2);
    const m = merge(d1, d2);
    expect(m.siblings).toHaveLength(2);
    expect(isDeleted(m)).toBe(true);
    expect(liveSiblings(m)).toEqual([]);
  });

  it('a replica that missed the delete does not resurrect the value on sync', () => {
    const a = put(undefined, EMPTY_VV, N1, 'a');
    const stale = a; // n2 got `a` and nothing since
    const deleted = del(a, a.vv, N1);
    for (const m of [merge(deleted, stale), merge(stale, deleted)]) {
      expect(isDeleted(m)).toBe(true);
      expect(liveSiblings(m)).toEqual([]);
      expect(m.siblings).toHaveLength(1);
    }
  });

  it('liveSiblings keeps dot order and drops exactly the tombstones', () => {
    fc.assert(
      fc.property(clusterRunArb(), (run) => {
        for (const o of run.snapshots) {
          const live = liveSiblings(o);
          expect(live).toEqual(o.siblings.filter((s) => !s.deleted));
          expect(isDeleted(o)).toBe(live.length === 0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
