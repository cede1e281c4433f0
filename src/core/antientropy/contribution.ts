import type { Hasher } from '../../ports/hasher.js';
import type { VersionedObject } from '../version/types.js';
import { segmentOfHash } from './tree-shape.js';

/**
 * What a key adds to its segment's hash: hash64(key ‖ canonical digest), XORed
 * in. The digest is the object's causal identity — vector entries, sibling
 * dots, tombstone flags — not its bytes: a dot names exactly one value, so two
 * replicas with the same digest hold the same sibling set. Every string is
 * length-prefixed, so no two different objects share a digest text.
 */
export function objectDigest(key: string, object: VersionedObject): string {
  let out = `${key.length}:${key}|`;
  for (const [actor, counter] of object.vv) out += `${actor.length}:${actor}=${counter};`;
  out += '|';
  for (const s of object.siblings) out += `${s.dot.actor.length}:${s.dot.actor}=${s.dot.counter}${s.deleted ? 'd' : 'l'};`;
  return out;
}

export function contributionOf(hasher: Hasher, key: string, object: VersionedObject): bigint {
  return hasher.hash64(objectDigest(key, object));
}

export function segmentOf(hasher: Hasher, key: string): number {
  return segmentOfHash(hasher.hash64(key));
}
