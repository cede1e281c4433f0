import type { WireObject } from '../version/codec.js';

/**
 * Ownership-handoff messages on the peer port (riak_core's
 * handoff_sender / handoff_receiver, over our request/reply transport).
 */
export type TransferRequest =
  /**
   * One batch of a partition's ordered range, from the old primary `from`:
   * merged into the receiver's copy with Replica.apply. `pass` counts full
   * scans of the partition (1 = the first), for logs and status only.
   */
  | { type: 'transfer-batch'; partition: number; from: string; pass: number; keys: string[]; objects: WireObject[] }
  /** To the claimant: the transfer `partition` `from` → `to` is verified; clear it from the ring. */
  | { type: 'transfer-done'; partition: number; from: string; to: string };

export type TransferReply =
  /** Batch applied durably; `changed`: keys whose copy here the batch changed (0 for every batch of a pass = verified). */
  { type: 'transfer-ack'; changed: number };
