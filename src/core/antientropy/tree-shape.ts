/**
 * The shape of every partition's Merkle tree: fixed cluster-wide, since two
 * replicas compare trees level by level.
 *
 * Two levels, 128 branches × 128 segments = 16,384 segments (Riak's TicTac
 * trees use the same idea: XOR-combined segments under one level of branches).
 * Sizing, for a 1,000,000-key partition with 10 differing keys:
 *  - branch level: 128 × 8 B = 1 KiB travels once;
 *  - ≤ 10 differing branches: 10 × 128 × 8 B = 10 KiB of segment hashes;
 *  - ≤ 10 differing segments of ~61 keys each (1M / 16,384): ~600 (key, hash)
 *    pairs, ~20 KB for 20-byte keys; then only the 10 objects.
 * 64 × 64 would halve tree memory but put ~244 keys in a segment (≈ 4× the key
 * lists); 1024 × 1024 (Riak's largest) would make a tree 8 MiB. Memory of one
 * tree: 1 KiB of branch hashes plus 1 KiB per branch holding any key, at most
 * 129 KiB, so ≤ 33 MiB for 256 partitions — small next to the key index itself.
 */
export const SLOT_BITS = 7;
export const BRANCHES = 128;
export const SEGMENTS_PER_BRANCH = 1 << SLOT_BITS;
export const SEGMENTS = BRANCHES * SEGMENTS_PER_BRANCH;
export const HASH_BYTES = 8;

const SLOT_MASK = SEGMENTS_PER_BRANCH - 1;

// A key's segment comes from the tree hash of the key (contribution.ts), not
// the ring's hash, so it is uniform within a partition whatever the ring does.

export function branchOf(segment: number): number {
  return segment >>> SLOT_BITS;
}

export function slotOf(segment: number): number {
  return segment & SLOT_MASK;
}
