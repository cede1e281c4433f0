import { assert } from '../assert.js';
import { BRANCHES, HASH_BYTES, SEGMENTS_PER_BRANCH } from './tree-shape.js';

/**
 * Wire forms of hashes. A plain list (roots, key contributions): 8 bytes per
 * hash, big-endian. A tree level: groups of 128 hashes (one branch's segments, or
 * the 128 branches), each sent as a 16-byte bitmap of its non-zero entries
 * followed by those entries' 8-byte hashes (big-endian). A sparse partition
 * (a few keys per branch) costs ~24 bytes per branch instead of 1 KiB; a full
 * one 1,040 bytes instead of 1,024.
 */
export const GROUP_SIZE = SEGMENTS_PER_BRANCH;
assert(BRANCHES === GROUP_SIZE && GROUP_SIZE % 8 === 0, 'hash groups: both tree levels must be groups of the same size');
const BITMAP_BYTES = GROUP_SIZE / 8;

/** Encodes groups of GROUP_SIZE hashes; `undefined` stands for a group of zeros. */
export function encodeGroups(groups: ReadonlyArray<ArrayLike<bigint> | undefined>): Uint8Array {
  let nonZero = 0;
  for (const group of groups) {
    if (group === undefined) continue;
    assert(group.length === GROUP_SIZE, 'hash groups: wrong group size');
    for (let i = 0; i < GROUP_SIZE; i++) if (group[i] !== 0n) nonZero++;
  }
  const out = new Uint8Array(groups.length * BITMAP_BYTES + nonZero * HASH_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const group of groups) {
    const bitmap = at;
    at += BITMAP_BYTES;
    if (group === undefined) continue;
    for (let i = 0; i < GROUP_SIZE; i++) {
      const hash = group[i]!;
      if (hash === 0n) continue;
      out[bitmap + (i >>> 3)]! |= 1 << (i & 7);
      view.setBigUint64(at, hash, false);
      at += HASH_BYTES;
    }
  }
  assert(at === out.length, 'hash groups: encoded length mismatch');
  return out;
}

/** Decodes exactly `groups` groups; throws a plain Error on any malformed input (it comes from a peer). */
export function decodeGroups(bytes: Uint8Array, groups: number): BigUint64Array {
  const out = new BigUint64Array(groups * GROUP_SIZE);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let g = 0; g < groups; g++) {
    if (at + BITMAP_BYTES > bytes.length) throw new Error('hash groups: truncated bitmap');
    const bitmap = at;
    at += BITMAP_BYTES;
    for (let i = 0; i < GROUP_SIZE; i++) {
      if ((bytes[bitmap + (i >>> 3)]! & (1 << (i & 7))) === 0) continue;
      if (at + HASH_BYTES > bytes.length) throw new Error('hash groups: truncated hashes');
      out[g * GROUP_SIZE + i] = view.getBigUint64(at, false);
      at += HASH_BYTES;
    }
  }
  if (at !== bytes.length) throw new Error('hash groups: trailing bytes');
  return out;
}

/** Indices at which two equally long hash lists differ. */
export function differingIndices(local: ArrayLike<bigint>, remote: ArrayLike<bigint>): number[] {
  assert(local.length === remote.length, 'hash groups: lists of different lengths');
  const out: number[] = [];
  for (let i = 0; i < local.length; i++) if (local[i] !== remote[i]) out.push(i);
  return out;
}

/** A plain list: 8 big-endian bytes per hash. */
export function encodeHashes(hashes: ArrayLike<bigint>): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < hashes.length; i++) view.setBigUint64(i * HASH_BYTES, hashes[i]!, false);
  return out;
}

/** The i-th 8-byte hash of an encoded list (the caller checks the length). */
export function hashAt(bytes: Uint8Array, i: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(i * HASH_BYTES, false);
}
