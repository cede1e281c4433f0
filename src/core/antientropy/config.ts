import { LIMITS } from '../limits.js';

/** Every bound of Merkle anti-entropy scheduling, in one object (defaults in LIMITS.antiEntropyDefaults). */
export interface AntiEntropyConfig {
  /**
   * One scheduling round: a root sweep with the next peer (one message holding
   * the roots of every partition the two share), then idle exchange workers are
   * topped up. With P peers every shared partition is compared at least every
   * P × roundIntervalMs (2 s with N=3 on 3 nodes).
   */
  roundIntervalMs: number;
  /** Exchanges this node runs at once (each one partition with one peer). */
  exchangesConcurrentMax: number;
  /** Differing keys one exchange repairs; a partition with more is queued again at once. */
  keysPerExchangeMax: number;
  /** Keys fetched, merged and sent per batch; the exchange yields to other work between batches. */
  keysPerBatchMax: number;
  /** Anti-entropy traffic (requests, replies, repairs) this node initiates, per second. */
  bytesPerSecondMax: number;
  /** Timeout of one anti-entropy request. */
  requestTimeoutMs: number;
  /** Keys scanned per background rebuild tick on start (each partition also counts as one). */
  rebuildKeysPerTick: number;
  /** Pause between rebuild ticks, so requests run between them. */
  rebuildTickMs: number;
}

export const ANTI_ENTROPY_DEFAULTS: Readonly<AntiEntropyConfig> = Object.freeze({ ...LIMITS.antiEntropyDefaults });
