import { assert } from '../assert.js';
import type { ActorId, Dot, VersionVector } from './types.js';

export const EMPTY_VV: VersionVector = Object.freeze([]) as VersionVector;

export function counterOf(vv: VersionVector, actor: ActorId): number {
  for (const [a, c] of vv) if (a === actor) return c;
  return 0;
}

/** True when the event `dot` is in the causal history `vv`. */
export function covers(vv: VersionVector, dot: Dot): boolean {
  return counterOf(vv, dot.actor) >= dot.counter;
}

/** True when `a` has seen everything `b` has seen. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  for (const [actor, c] of b) if (counterOf(a, actor) < c) return false;
  return true;
}

export function equalVV(a: VersionVector, b: VersionVector): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}

/** Pointwise maximum of two canonical vectors (a merge of sorted lists). */
export function mergeVV(a: VersionVector, b: VersionVector): VersionVector {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: Array<readonly [ActorId, number]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x[0] < y[0])) {
      out.push(x!);
      i++;
    } else if (x === undefined || y[0] < x[0]) {
      out.push(y);
      j++;
    } else {
      out.push(x[1] >= y[1] ? x : y);
      i++;
      j++;
    }
  }
  return out;
}

/** The vector with `dot` added (its actor's counter raised to at least dot.counter). */
export function withDot(vv: VersionVector, dot: Dot): VersionVector {
  assert(dot.counter > 0, 'dot counter must be positive');
  return mergeVV(vv, [[dot.actor, dot.counter]]);
}

/** Checks canonical form: sorted unique actors, positive safe-integer counters. */
export function isCanonicalVV(vv: VersionVector): boolean {
  for (let i = 0; i < vv.length; i++) {
    const [actor, counter] = vv[i]!;
    if (typeof actor !== 'string' || actor.length === 0) return false;
    if (!Number.isSafeInteger(counter) || counter <= 0) return false;
    if (i > 0 && !(vv[i - 1]![0] < actor)) return false;
  }
  return true;
}

export function compareDots(a: Dot, b: Dot): number {
  if (a.actor !== b.actor) return a.actor < b.actor ? -1 : 1;
  return a.counter - b.counter;
}

export function sameDot(a: Dot, b: Dot): boolean {
  return a.actor === b.actor && a.counter === b.counter;
}
