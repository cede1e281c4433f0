import type { VersionedObject } from '../core/version/types.js';

/** A write a fallback holds for a primary that could not take it. */
export interface StoredHint {
  readonly target: string;
  readonly partition: number;
  readonly key: string;
  /** When the fallback first took a hint for this key (the hint window counts from here). */
  readonly createdAtMs: number;
  readonly object: VersionedObject;
}

/**
 * Durable storage of hints. The hint queue keeps every hint in memory (it is
 * bounded) and writes through to this log, so hints survive a crash.
 * `save`/`remove` resolve once durable, in call order per (target, partition, key).
 */
export interface HintLog {
  load(): StoredHint[];
  save(hint: StoredHint): Promise<void>;
  remove(target: string, partition: number, key: string): Promise<void>;
}
