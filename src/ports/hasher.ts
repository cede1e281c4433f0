/**
 * 64-bit key hashing for ring placement (xxhash64 in every wiring: it is pure).
 * The Merkle trees hash with their own pure-JS function (core/antientropy/contribution.ts).
 */
export interface Hasher {
  hash64(key: string): bigint;
}
