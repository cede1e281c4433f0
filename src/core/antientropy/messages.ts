import type { WireObject } from '../version/codec.js';

/**
 * Peer messages of the Merkle exchange (part of PeerRequest / PeerReply in
 * ../messages.ts). Hashes travel as raw bytes (hash-wire.ts): lists of
 * 8-byte hashes, and tree levels as sparse groups of 128.
 * The initiator walks down: roots (of every partition it shares with the peer,
 * in one message) → branch hashes → segment hashes of differing branches →
 * (key, contribution) lists of differing segments → objects of differing keys.
 * Repairs the peer needs go back as ordinary `replicate` messages.
 */
export type AaeRequest =
  /** Roots of these partitions' trees, and whether each is built. */
  | { type: 'aae-roots'; partitions: number[] }
  /** Branch hashes of a partition's tree (`branches` null), or the segment hashes of the listed branches. */
  | { type: 'aae-hashes'; partition: number; branches: number[] | null }
  /** Every key of the listed segments with its contribution, for as many whole segments as one reply holds. */
  | { type: 'aae-keys'; partition: number; segments: number[] }
  /** This replica's objects of the listed keys (a prefix of them, as many as one reply holds). */
  | { type: 'aae-fetch'; partition: number; keys: string[] };

export type AaeReply =
  /** ready[i] = 1 when the tree of partitions[i] is built; roots: 8 bytes each. */
  | { type: 'aae-roots'; ready: Uint8Array; roots: Uint8Array }
  /** Groups of 128 hashes in sparse form (hash-wire.ts); ready false: the tree is still being rebuilt (hashes empty). */
  | { type: 'aae-hashes'; ready: boolean; hashes: Uint8Array }
  /** The first `covered` requested segments, complete: their keys, and each key's contribution (8 bytes). */
  | { type: 'aae-keys'; ready: boolean; covered: number; keys: string[]; hashes: Uint8Array }
  /** objects[i] is keys[i]'s object, null when absent; a prefix of the keys asked for. */
  | { type: 'aae-objects'; objects: Array<WireObject | null> };
