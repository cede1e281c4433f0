/**
 * Every bound in dynakv, named in one place ("put a limit on everything").
 * Operator-tunable ones are defaults for node options; the rest are fixed.
 */
export const LIMITS = {
  /** Keys: 1..1024 bytes of UTF-8 (DESIGN §7). */
  keyBytesMax: 1024,
  /** Values: default cap on a PUT body (`--max-value-bytes`). */
  valueBytesMaxDefault: 1024 * 1024,
  /** Siblings a client write may create before 409 too_many_siblings. */
  siblingsMaxDefault: 100,
  /** Siblings accepted in a stored/replicated object (replication never rejects below this). */
  siblingsStoredMax: 1000,
  /** Entries in a version vector accepted from outside. */
  vectorEntriesMax: 256,
  /** Characters of an actor id (node id + epoch). */
  actorBytesMax: 160,
  /** Characters of a stored content type. */
  contentTypeBytesMax: 256,
  /** Characters of an X-Dynakv-Context header. */
  contextCharsMax: 16 * 1024,
  /** Replication factor bounds. */
  replicasMax: 16,
  /** Ring size bounds (a power of two). */
  partitionsMin: 8,
  partitionsMax: 65536,
  /** Default per-request timeout and its accepted range. */
  requestTimeoutMsDefault: 5000,
  requestTimeoutMsMax: 60_000,
  /** Requests a coordinator runs at once before answering 503 overloaded. */
  coordinatorRequestsInflightMax: 4096,
  /** Background read-repair writes in flight per node; beyond it repairs are skipped (anti-entropy covers them). */
  readRepairsInflightMax: 256,
  /** Internode: connections per peer pool, messages per coalesced batch, body size. */
  peerConnectionsMax: 8,
  peerBatchMessagesMax: 256,
  peerBodyBytesMax: 64 * 1024 * 1024,
  peerRequestTimeoutMsDefault: 5000,
  /** Messages queued to one peer before new ones fail fast. */
  peerQueueMessagesMax: 8192,
  /**
   * Merkle anti-entropy scheduling defaults (AntiEntropyConfig in
   * src/core/antientropy/config.ts says what each one bounds and why).
   */
  antiEntropyDefaults: {
    roundIntervalMs: 1000,
    exchangesConcurrentMax: 2,
    keysPerExchangeMax: 4096,
    keysPerBatchMax: 128,
    bytesPerSecondMax: 8 * 1024 * 1024,
    requestTimeoutMs: 5000,
    rebuildKeysPerTick: 2048,
    rebuildTickMs: 1,
  },
  /**
   * Ownership handoff (join/leave streaming) defaults; TransferConfig in
   * src/core/transfer/config.ts says what each one bounds.
   */
  transferDefaults: {
    keysPerBatchMax: 256,
    bytesPerBatchMax: 1024 * 1024,
    batchesPerSecondMax: 100,
    concurrentMax: 2,
    passesMax: 6,
    requestTimeoutMs: 10_000,
    retryDelayMs: 1000,
    tickMs: 250,
    dropKeysPerStep: 512,
    leftLingerMs: 1500,
  },
} as const;
