/** 64-bit key hashing for the ring and Merkle trees (xxhash64 in every wiring: it is pure). */
export interface Hasher {
  hash64(key: string): bigint;
}
