import type { Store } from '../../ports/store.js';
import { assert } from '../assert.js';

/**
 * Removes every key of `partition` from this node's store, in steps of
 * `keysPerStep` (the partition was handed off and verified, and this node is
 * no longer one of its primaries). The cursor only moves forward, so the loop
 * ends even if stray writes keep arriving. Returns the keys removed.
 */
export async function dropPartition(store: Store, partition: number, keysPerStep: number, stillDroppable: () => boolean): Promise<number> {
  assert(Number.isInteger(keysPerStep) && keysPerStep >= 1, 'drop: bad step');
  let cursor: string | undefined;
  let removed = 0;
  for (;;) {
    // The ring may have changed while we awaited: stop at once if the partition is ours again.
    if (!stillDroppable()) return removed;
    const entries = store.scan(partition, cursor, keysPerStep);
    if (entries.length === 0) return removed;
    await Promise.all(entries.map(({ key }) => store.remove(partition, key)));
    removed += entries.length;
    cursor = entries[entries.length - 1]!.key;
  }
}
