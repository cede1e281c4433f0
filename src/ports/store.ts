import type { VersionedObject } from '../core/version/types.js';

/**
 * A node's local storage: objects keyed by (partition, key), one ordered range
 * per partition (for streaming and Merkle trees), plus a few small metadata
 * records (actor epoch, incarnation).
 *
 * Contract:
 *  - `get` is synchronous and sees every `put`/`remove` already called, even
 *    one not yet durable, so get → merge → put in one turn is atomic.
 *  - `put`/`remove` apply in call order; the promise resolves once the change
 *    is durable under the store's sync mode (fsync'd, group-committed, unless
 *    the operator chose `--sync none`). Acknowledge a write only after that.
 *  - Nothing here throws on a missing key.
 */
export interface Store {
  get(partition: number, key: string): VersionedObject | undefined;
  /**
   * The object `get` returns, as its packed bytes (codec.ts `packObject`): a
   * copy the caller may keep. Replicas answer reads with these bytes as they
   * are, and a coordinator compares them byte for byte, decoding only copies
   * that differ from its own.
   */
  getPacked(partition: number, key: string): Uint8Array | undefined;
  /** `packed`, when the caller has it, must be `packObject(object)`: the store then need not pack again. */
  put(partition: number, key: string, object: VersionedObject, packed?: Uint8Array): Promise<void>;
  remove(partition: number, key: string): Promise<void>;
  /** Keys of one partition in ascending byte order, strictly after `afterKey`, at most `limit`. */
  scan(partition: number, afterKey: string | undefined, limit: number): Array<{ key: string; object: VersionedObject }>;
  /** Approximate totals for status reports. */
  stats(): { keys: number; bytes: number };
  getMeta(name: string): Uint8Array | undefined;
  putMeta(name: string, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}
