import { LIMITS } from '../limits.js';

/** Bounds of ownership handoff (every one named; defaults in LIMITS.transferDefaults). */
export interface TransferConfig {
  /** Keys per streamed batch (one ordered scan step). */
  keysPerBatchMax: number;
  /** Packed object bytes per batch; a batch always carries at least one key. */
  bytesPerBatchMax: number;
  /** Batches a sender sends per second, per transfer (throttle: handoff must not starve client traffic). */
  batchesPerSecondMax: number;
  /** Outbound transfers a node runs at once. */
  concurrentMax: number;
  /** Full passes of one transfer before it is abandoned and retried later from the start. */
  passesMax: number;
  /** Reply timeout of one batch. */
  requestTimeoutMs: number;
  /** Wait after a failed batch before resuming from the cursor. */
  retryDelayMs: number;
  /** Period of the transfer loop (start senders, re-report completions, finish a leave). */
  tickMs: number;
  /** Keys removed per step when a node drops a partition it handed off. */
  dropKeysPerStep: number;
  /** After becoming `left`, how long a node keeps gossiping before it stops. */
  leftLingerMs: number;
}

export const TRANSFER_DEFAULTS: TransferConfig = { ...LIMITS.transferDefaults };
