/**
 * fast-check arbitraries for the DVV core (src/core/version).
 *
 * Two families:
 *  - realistic: a small simulated cluster (3–4 replicas, each the local object
 *    of one actor "n1.e1", "n2.e1", …) driven by random client reads, writes
 *    through `update` at a random coordinator (always on that coordinator's own
 *    local object) and pairwise `merge` syncs. Every state any replica passed
 *    through is collected, so laws can be checked on objects that share one
 *    causal history (a dot names exactly one write, as in production).
 *  - arbitrary: any valid (canonical) object, for codec round trips and for
 *    laws that must hold even on objects with no common history.
 */
import fc from 'fast-check';
import { DynakvError } from '../../../src/core/errors.js';
import { LIMITS } from '../../../src/core/limits.js';
import { EMPTY_OBJECT, merge, update } from '../../../src/core/version/dvv.js';
import type { ActorId, Dot, Sibling, VersionedObject, VersionVector } from '../../../src/core/version/types.js';
import { compareDots, covers } from '../../../src/core/version/vector.js';

// ---------------------------------------------------------------------------
// Small helpers shared by the tests
// ---------------------------------------------------------------------------

export const CLUSTER_ACTORS: readonly ActorId[] = ['n1.e1', 'n2.e1', 'n3.e1', 'n4.e1'];

const utf8 = new TextEncoder();

/** The bytes the simulation stores for a dot: unique per dot, so a dot names one value. */
export function valueFor(dot: Dot): Uint8Array {
  return utf8.encode(`${dot.actor}#${dot.counter}`);
}

export function dotKey(dot: Dot): string {
  return `${dot.actor}\u0000${dot.counter}`;
}

export function dotsOf(obj: VersionedObject): Dot[] {
  return obj.siblings.map((s) => ({ actor: s.dot.actor, counter: s.dot.counter }));
}

/** Plain data view of an object (vv entries + full sibling contents), for toEqual. */
export function plain(obj: VersionedObject): {
  vv: Array<[string, number]>;
  siblings: Array<{ actor: string; counter: number; value: number[]; contentType: string; deleted: boolean; lastModifiedMs: number }>;
} {
  return {
    vv: obj.vv.map(([a, c]) => [a, c]),
    siblings: obj.siblings.map((s) => ({
      actor: s.dot.actor,
      counter: s.dot.counter,
      value: Array.from(s.value),
      contentType: s.contentType,
      deleted: s.deleted,
      lastModifiedMs: s.lastModifiedMs,
    })),
  };
}

/** A structurally identical copy sharing no arrays/objects with the original. */
export function deepCopy(obj: VersionedObject): VersionedObject {
  return {
    vv: obj.vv.map(([a, c]) => [a, c] as const),
    siblings: obj.siblings.map((s) => ({
      dot: { actor: s.dot.actor, counter: s.dot.counter },
      value: Uint8Array.from(s.value),
      contentType: s.contentType,
      deleted: s.deleted,
      lastModifiedMs: s.lastModifiedMs,
    })),
  };
}

/**
 * Freezes an object deeply (vv, entries, siblings, dots), so any mutation by
 * the core throws a TypeError in strict mode. Typed arrays cannot be frozen;
 * `plain` snapshots catch byte mutation instead.
 */
export function deepFreeze(obj: VersionedObject): VersionedObject {
  for (const e of obj.vv) Object.freeze(e);
  Object.freeze(obj.vv);
  for (const s of obj.siblings) {
    Object.freeze(s.dot);
    Object.freeze(s);
  }
  Object.freeze(obj.siblings);
  return Object.freeze(obj);
}

/** Checks every structural invariant of a stored object; returns the first defect or null. */
export function invariantViolation(obj: VersionedObject): string | null {
  for (let i = 0; i < obj.vv.length; i++) {
    const [a, c] = obj.vv[i]!;
    if (typeof a !== 'string' || a.length === 0) return `vv[${i}]: bad actor`;
    if (!Number.isSafeInteger(c) || c <= 0) return `vv[${i}]: bad counter ${c}`;
    if (i > 0 && !(obj.vv[i - 1]![0] < a)) return `vv[${i}]: not sorted/unique`;
  }
  for (let i = 0; i < obj.siblings.length; i++) {
    const s = obj.siblings[i]!;
    if (!covers(obj.vv, s.dot)) return `sibling ${dotKey(s.dot)} outside vv`;
    if (i > 0 && !(compareDots(obj.siblings[i - 1]!.dot, s.dot) < 0)) return `sibling ${i}: not sorted/unique by dot`;
    if (!(s.value instanceof Uint8Array)) return `sibling ${i}: value not bytes`;
    if (typeof s.deleted !== 'boolean') return `sibling ${i}: deleted not boolean`;
  }
  return null;
}

/**
 * Full anti-entropy: two passes of sequential merges around the ring. After
 * the first pass replica 0 holds everything; the second spreads it to all.
 */
export function syncAll(replicas: readonly VersionedObject[]): VersionedObject[] {
  const out = replicas.slice();
  const n = out.length;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      out[j] = merge(out[i]!, out[j]!);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Realistic cluster simulation
// ---------------------------------------------------------------------------

export type ClusterOp =
  /** A client reads one replica: its context becomes that replica's vv. */
  | { readonly kind: 'read'; readonly client: number; readonly replica: number }
  /** A client drops its context (a fresh client, or one that never reads). */
  | { readonly kind: 'forget'; readonly client: number }
  /** A client writes through a coordinator, with its held context or none. */
  | { readonly kind: 'write'; readonly client: number; readonly coordinator: number; readonly useContext: boolean; readonly deleted: boolean }
  /** Read-modify-write: read `replica`, then write at `coordinator` with that context at once. */
  | { readonly kind: 'rmw'; readonly client: number; readonly replica: number; readonly coordinator: number; readonly deleted: boolean }
  /** Replica `to` merges in replica `from`'s object; `both`: they exchange. */
  | { readonly kind: 'sync'; readonly from: number; readonly to: number; readonly both: boolean };

export interface WriteRecord {
  readonly step: number;
  readonly dot: Dot;
  readonly coordinator: ActorId;
  /** The context the client sent (EMPTY when none). */
  readonly context: VersionVector;
  /** The dots the client actually saw as siblings when it took that context. */
  readonly seen: readonly Dot[];
  readonly before: VersionedObject;
  readonly after: VersionedObject;
  readonly deleted: boolean;
}

export interface ClusterRun {
  readonly actors: readonly ActorId[];
  readonly ops: readonly ClusterOp[];
  /** Final replica states (not necessarily synced). */
  readonly replicas: readonly VersionedObject[];
  /** Every state any replica passed through, starting with EMPTY_OBJECT. */
  readonly snapshots: readonly VersionedObject[];
  /** Successful writes, in order. */
  readonly writes: readonly WriteRecord[];
  /** Writes refused with too_many_siblings (the replica must be unchanged). */
  readonly rejected: number;
}

interface ClientState {
  context: VersionVector;
  seen: Dot[];
}

/**
 * Runs `ops` on a cluster of `nActors` replicas. Indices in the ops are taken
 * modulo the cluster/client counts, so any op list is valid for any size
 * (which keeps shrinking effective). Every object is deep-frozen.
 */
export function simulate(nActors: number, ops: readonly ClusterOp[], siblingsMax: number = LIMITS.siblingsStoredMax, nClients = 3): ClusterRun {
  const actors = CLUSTER_ACTORS.slice(0, nActors);
  const replicas: VersionedObject[] = actors.map(() => EMPTY_OBJECT);
  const clients: ClientState[] = Array.from({ length: nClients }, () => ({ context: [], seen: [] }));
  const snapshots: VersionedObject[] = [EMPTY_OBJECT];
  const writes: WriteRecord[] = [];
  let rejected = 0;
  const steps = ops.flatMap((op): ClusterOp[] =>
    op.kind === 'rmw'
      ? [
          { kind: 'read', client: op.client, replica: op.replica },
          { kind: 'write', client: op.client, coordinator: op.coordinator, useContext: true, deleted: op.deleted },
        ]
      : [op],
  );
  steps.forEach((op, step) => {
    switch (op.kind) {
      case 'rmw':
        throw new Error('unreachable: rmw is expanded above');
      case 'read': {
        const r = replicas[op.replica % nActors]!;
        const c = clients[op.client % nClients]!;
        c.context = r.vv;
        c.seen = dotsOf(r);
        break;
      }
      case 'forget': {
        const c = clients[op.client % nClients]!;
        c.context = [];
        c.seen = [];
        break;
      }
      case 'write': {
        const at = op.coordinator % nActors;
        const actor = actors[at]!;
        const c = clients[op.client % nClients]!;
        const context = op.useContext ? c.context : [];
        const seen = op.useContext ? c.seen : [];
        const before = replicas[at]!;
        const counter = nextCounter(before, context, actor);
        const dot = { actor, counter };
        let after: VersionedObject;
        try {
          after = update(
            before,
            context,
            actor,
            { value: valueFor(dot), contentType: 'text/plain', deleted: op.deleted, lastModifiedMs: 1_700_000_000_000 + step },
            siblingsMax,
          );
        } catch (e) {
          if (e instanceof DynakvError && e.code === 'too_many_siblings') {
            rejected++;
            break;
          }
          throw e;
        }
        deepFreeze(after);
        replicas[at] = after;
        snapshots.push(after);
        writes.push({ step, dot, coordinator: actor, context, seen, before, after, deleted: op.deleted });
        break;
      }
      case 'sync': {
        const from = op.from % nActors;
        const to = op.to % nActors;
        const m = deepFreeze(merge(replicas[from]!, replicas[to]!));
        replicas[to] = m;
        if (op.both) replicas[from] = m;
        snapshots.push(m);
        break;
      }
    }
  });
  return { actors, ops, replicas, snapshots, writes, rejected };
}

/** The counter `update` must mint: one past everything the coordinator or the client has seen of it. */
function nextCounter(local: VersionedObject, context: VersionVector, actor: ActorId): number {
  let c = 0;
  for (const [a, n] of local.vv) if (a === actor) c = Math.max(c, n);
  for (const [a, n] of context) if (a === actor) c = Math.max(c, n);
  return c + 1;
}

export function clusterOpArb(): fc.Arbitrary<ClusterOp> {
  const idx = fc.nat({ max: 7 });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), client: idx, replica: idx }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), client: idx }) },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('write' as const),
        client: idx,
        coordinator: idx,
        useContext: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        deleted: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('rmw' as const),
        client: idx,
        replica: idx,
        coordinator: idx,
        deleted: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: idx, to: idx, both: fc.boolean() }) },
  );
}

export interface ClusterRunConstraints {
  readonly minOps?: number;
  readonly maxOps?: number;
}

/** A whole simulated history on 3 or 4 replicas. */
export function clusterRunArb(constraints: ClusterRunConstraints = {}): fc.Arbitrary<ClusterRun> {
  return fc
    .record({
      n: fc.constantFrom(3, 4),
      ops: fc.array(clusterOpArb(), { minLength: constraints.minOps ?? 1, maxLength: constraints.maxOps ?? 60, size: 'max' }),
    })
    .map(({ n, ops }) => simulate(n, ops));
}

/** `k` replica states drawn from one simulated history (so dots are consistent). */
export function realisticObjectsArb(k: number, constraints: ClusterRunConstraints = {}): fc.Arbitrary<VersionedObject[]> {
  return fc
    .tuple(clusterRunArb(constraints), fc.array(fc.nat(), { minLength: k, maxLength: k }), fc.boolean())
    .map(([run, picks, preferFinal]) => {
      const pool = preferFinal ? [...run.replicas, ...run.snapshots.slice(-8)] : run.snapshots;
      return picks.map((p) => pool[p % pool.length]!);
    });
}

// ---------------------------------------------------------------------------
// Arbitrary valid objects
// ---------------------------------------------------------------------------

const wellFormed = (s: string): boolean => new TextDecoder().decode(utf8.encode(s)) === s;

/** Actor ids: mostly a small pool (so dots collide across objects), sometimes any Unicode. */
export function actorArb(): fc.Arbitrary<ActorId> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('n1.e1', 'n2.e1', 'n3.e1', 'n1.e2', 'n10.zz9') },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 24, unit: 'binary' }).filter(wellFormed) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: LIMITS.actorBytesMax }) },
  );
}

/** Counters: mostly small (collisions), sometimes up to MAX_SAFE_INTEGER (codec). */
export function counterArb(): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 6 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) },
    { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1) },
  );
}

const byActor = (x: readonly [string, number], y: readonly [string, number]): number => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);

/** A canonical version vector: sorted unique actors, positive safe-integer counters. */
export function vvArb(maxEntries = 6): fc.Arbitrary<VersionVector> {
  return fc
    .uniqueArray(fc.tuple(actorArb(), counterArb()), { selector: (e) => e[0], maxLength: maxEntries })
    .map((entries) => entries.map(([a, c]) => [a, c] as const).sort(byActor));
}

export interface SiblingPayload {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly deleted: boolean;
  readonly lastModifiedMs: number;
}

export function payloadArb(): fc.Arbitrary<SiblingPayload> {
  return fc.record({
    value: fc.uint8Array({ maxLength: 24 }),
    contentType: fc.oneof(
      fc.constantFrom('text/plain', 'application/json', 'application/octet-stream', ''),
      fc.string({ maxLength: 40, unit: 'binary' }).filter(wellFormed),
    ),
    deleted: fc.boolean(),
    lastModifiedMs: fc.oneof(fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), fc.maxSafeInteger()),
  });
}

/** Any valid object: canonical vv, siblings a sorted unique subset of the dots it covers. */
export function validObjectArb(): fc.Arbitrary<VersionedObject> {
  return fc
    .tuple(vvArb(), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 7 }), payloadArb()), { maxLength: 6 }))
    .map(([vv, raw]) => {
      if (vv.length === 0) return { vv, siblings: [] };
      const byDot = new Map<string, Sibling>();
      for (const [e, back, payload] of raw) {
        const [actor, top] = vv[e % vv.length]!;
        const counter = Math.max(1, top - (back % Math.min(top, 8)));
        const dot = { actor, counter };
        if (!byDot.has(dotKey(dot))) byDot.set(dotKey(dot), { dot, ...payload });
      }
      const siblings = [...byDot.values()].sort((x, y) => compareDots(x.dot, y.dot));
      return { vv, siblings };
    });
}
