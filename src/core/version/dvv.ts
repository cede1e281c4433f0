import { assert } from '../assert.js';
import { DynakvError } from '../errors.js';
import type { ActorId, Dot, Sibling, VersionedObject, VersionVector } from './types.js';
import { compareDots, counterOf, covers, EMPTY_VV, equalVV, mergeVV, sameDot, withDot } from './vector.js';

/**
 * Dotted version vector sets (Preguiça et al.; Riak 2.0's dvvset), kept as a
 * causal context plus a set of dotted siblings. Two operations matter:
 *  - `update`: a coordinator accepts a client write that has seen `context`;
 *  - `merge`: the sync rule, used by replicas, read repair and anti-entropy.
 */

export const EMPTY_OBJECT: VersionedObject = Object.freeze({ vv: EMPTY_VV, siblings: Object.freeze([]) });

export interface NewValue {
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly deleted: boolean;
  readonly lastModifiedMs: number;
}

/**
 * The coordinator's step: mint a new dot for `actor`, drop every sibling the
 * client's `context` has seen, keep the rest as concurrent siblings.
 * Throws `too_many_siblings` rather than growing past `siblingsMax`.
 */
export function update(
  local: VersionedObject | undefined,
  context: VersionVector,
  actor: ActorId,
  next: NewValue,
  siblingsMax: number,
): VersionedObject {
  const base = local ?? EMPTY_OBJECT;
  const counter = Math.max(counterOf(base.vv, actor), counterOf(context, actor)) + 1;
  const dot: Dot = { actor, counter };
  const kept = base.siblings.filter((s) => !covers(context, s.dot));
  if (kept.length + 1 > siblingsMax) {
    throw new DynakvError(
      'too_many_siblings',
      `key has ${kept.length} siblings; resolve them (write with the read's context) before adding more (limit ${siblingsMax})`,
      { siblings: kept.length, limit: siblingsMax },
    );
  }
  const sibling: Sibling = { dot, ...next };
  const siblings = insertSorted(kept, sibling);
  const vv = withDot(mergeVV(base.vv, context), dot);
  assert(siblings.every((s) => covers(vv, s.dot)), 'update: sibling outside its vector');
  return { vv, siblings };
}

/**
 * The sync rule: a sibling survives if the other side holds it too, or has
 * not seen its dot. Commutative, associative and idempotent (property-tested).
 */
export function merge(a: VersionedObject, b: VersionedObject): VersionedObject {
  if (a === b) return a;
  const out: Sibling[] = [];
  let i = 0;
  let j = 0;
  const as = a.siblings;
  const bs = b.siblings;
  while (i < as.length || j < bs.length) {
    const x = as[i];
    const y = bs[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareDots(x.dot, y.dot);
    if (order < 0) {
      if (!covers(b.vv, x!.dot)) out.push(x!);
      i++;
    } else if (order > 0) {
      if (!covers(a.vv, y!.dot)) out.push(y!);
      j++;
    } else {
      out.push(pickSameDot(x!, y!));
      i++;
      j++;
    }
  }
  return { vv: mergeVV(a.vv, b.vv), siblings: out };
}

/** Siblings a client should see: tombstones are kept for causality, not shown. */
export function liveSiblings(obj: VersionedObject): Sibling[] {
  return obj.siblings.filter((s) => !s.deleted);
}

/** True when every sibling is a tombstone (or there is none): the key reads as absent. */
export function isDeleted(obj: VersionedObject): boolean {
  return obj.siblings.every((s) => s.deleted);
}

/** Structural equality: same vector, same dots (a dot names one value). */
export function equalObjects(a: VersionedObject, b: VersionedObject): boolean {
  if (a === b) return true;
  if (!equalVV(a.vv, b.vv) || a.siblings.length !== b.siblings.length) return false;
  for (let i = 0; i < a.siblings.length; i++) {
    if (!sameDot(a.siblings[i]!.dot, b.siblings[i]!.dot)) return false;
  }
  return true;
}

/** True when `merged` holds something `replica` lacks: read repair sends it `merged`. */
export function isBehind(replica: VersionedObject | undefined, merged: VersionedObject): boolean {
  if (replica === undefined) return merged.siblings.length > 0 || merged.vv.length > 0;
  return !equalObjects(replica, merged);
}

function insertSorted(siblings: readonly Sibling[], s: Sibling): Sibling[] {
  const out = siblings.slice();
  let at = out.length;
  while (at > 0 && compareDots(out[at - 1]!.dot, s.dot) > 0) at--;
  out.splice(at, 0, s);
  return out;
}

/**
 * A dot names exactly one write, so both sides should carry the same bytes.
 * Should they ever differ (a bug or corruption elsewhere), choose by a total
 * order so that merge stays commutative.
 */
function pickSameDot(x: Sibling, y: Sibling): Sibling {
  if (x === y) return x;
  if (x.deleted !== y.deleted) return x.deleted ? x : y;
  if (x.lastModifiedMs !== y.lastModifiedMs) return x.lastModifiedMs > y.lastModifiedMs ? x : y;
  if (x.contentType !== y.contentType) return x.contentType > y.contentType ? x : y;
  return Buffer.compare(x.value, y.value) >= 0 ? x : y;
}
