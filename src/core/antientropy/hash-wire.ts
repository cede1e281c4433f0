import { assert } from '../assert.js';
import { BRANCHES, HASH_BYTES, SEGMENTS_PER_BRANCH } from './tree-shape.js';

/**
 * Wire forms of hashes. A plain list (roots, key contributions): 8 bytes per
 * hash, big-endian. A tree level: groups of 128 hashes (one branch's segments, or
 * the 128 branches), each sent as a 16-byte bitmap of its non-zero entries
 * followed by those entries' 8-byte hashes (big-endian). A sparse partition
 * (a few keys per branch) costs ~24 bytes per branch instead of 1 KiB; a full
 * one 1,040 bytes instead of 1,024. In memory a hash is a pair of int32 words,
 * high then low (partition-tree.ts); its bytes are those of the 64-bit number.
 */
export const GROUP_SIZE = SEGMENTS_PER_BRANCH;
assert(BRANCHES === GROUP_SIZE && GROUP_SIZE % 8 === 0, 'hash groups: both tree levels must be groups of the same size');
const BITMAP_BYTES = GROUP_SIZE / 8;

/** Encodes groups of GROUP_SIZE hash pairs (partition-tree.ts); `undefined` stands for a group of zeros. */
export function encodeGroups(groups: ReadonlyArray<Int32Array | undefined>): Uint8Array {
  let nonZero = 0;
  for (const group of groups) {
    if (group === undefined) continue;
    assert(group.length === 2 * GROUP_SIZE, 'hash groups: wrong group size');
    for (let i = 0; i < GROUP_SIZE; i++) if ((group[2 * i]! | group[2 * i + 1]!) !== 0) nonZero++;
  }
  const out = new Uint8Array(groups.length * BITMAP_BYTES + nonZero * HASH_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const group of groups) {
    const bitmap = at;
    at += BITMAP_BYTES;
    if (group === undefined) continue;
    for (let i = 0; i < GROUP_SIZE; i++) {
      const hi = group[2 * i]!;
      const lo = group[2 * i + 1]!;
      if ((hi | lo) === 0) continue;
      out[bitmap + (i >>> 3)]! |= 1 << (i & 7);
      view.setInt32(at, hi, false);
      view.setInt32(at + 4, lo, false);
      at += HASH_BYTES;
    }
  }
  assert(at === out.length, 'hash groups: encoded length mismatch');
  return out;
}

/** Decodes exactly `groups` groups into hash pairs; throws a plain Error on any malformed input (it comes from a peer). */
export function decodeGroups(bytes: Uint8Array, groups: number): Int32Array {
  const out = new Int32Array(groups * GROUP_SIZE * 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let g = 0; g < groups; g++) {
    if (at + BITMAP_BYTES > bytes.length) throw new Error('hash groups: truncated bitmap');
    const bitmap = at;
    at += BITMAP_BYTES;
    for (let i = 0; i < GROUP_SIZE; i++) {
      if ((bytes[bitmap + (i >>> 3)]! & (1 << (i & 7))) === 0) continue;
      if (at + HASH_BYTES > bytes.length) throw new Error('hash groups: truncated hashes');
      const hi = view.getInt32(at, false);
      const lo = view.getInt32(at + 4, false);
      // A zero is never sent (the bitmap says "absent"): one would be a second encoding of the same level.
      if ((hi | lo) === 0) throw new Error('hash groups: zero hash listed');
      out[2 * (g * GROUP_SIZE + i)] = hi;
      out[2 * (g * GROUP_SIZE + i) + 1] = lo;
      at += HASH_BYTES;
    }
  }
  if (at !== bytes.length) throw new Error('hash groups: trailing bytes');
  return out;
}

/** Indices of the hashes at which two equally long lists of hash pairs differ. */
export function differingIndices(local: Int32Array, remote: Int32Array): number[] {
  assert(local.length === remote.length && local.length % 2 === 0, 'hash groups: lists of different lengths');
  const out: number[] = [];
  for (let i = 0; i < local.length; i += 2) if (local[i] !== remote[i] || local[i + 1] !== remote[i + 1]) out.push(i >>> 1);
  return out;
}

/** A plain list of hash pairs: 8 big-endian bytes per hash (high word first). */
export function encodeHashes(hashes: Int32Array): Uint8Array {
  assert(hashes.length % 2 === 0, 'hash list: odd length');
  const out = new Uint8Array(hashes.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < hashes.length; i++) view.setInt32(i * 4, hashes[i]!, false);
  return out;
}

/** A plain list back into hash pairs; throws a plain Error unless the length is a whole number of hashes. */
export function decodeHashes(bytes: Uint8Array): Int32Array {
  if (bytes.length % HASH_BYTES !== 0) throw new Error('hash list: not a whole number of hashes');
  const out = new Int32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, false);
  return out;
}
