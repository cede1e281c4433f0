import type { Store } from '../../ports/store.js';
import { EMPTY_OBJECT, equalObjects, merge } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';

/**
 * A node's role as a replica of a key: fold an incoming version into the
 * local one with the DVV sync rule and make the result durable. Used for
 * replication, read repair, hint delivery and anti-entropy alike.
 */
export class Replica {
  /** Merges that changed the local copy, and merges that found it already held. */
  applied = 0;
  unchanged = 0;

  constructor(private readonly store: Store) {}

  read(partition: number, key: string): VersionedObject | undefined {
    return this.store.get(partition, key);
  }

  /** The stored copy as packed bytes (Store.getPacked). */
  readPacked(partition: number, key: string): Uint8Array | undefined {
    return this.store.getPacked(partition, key);
  }

  /**
   * Merge and store. get → merge → put runs in one turn (the store's get sees
   * pending puts), so concurrent applies to one key never lose an update.
   * Resolves with the merged object once it is durable. `packed`, when given,
   * is `packObject(incoming)`: stored as it is when this replica had no copy
   * (the merge is then `incoming` itself), which saves packing it again.
   */
  async apply(partition: number, key: string, incoming: VersionedObject, packed?: Uint8Array): Promise<VersionedObject> {
    const local = this.store.get(partition, key);
    const merged = merge(local ?? EMPTY_OBJECT, incoming);
    if (local !== undefined && equalObjects(local, merged)) {
      this.unchanged++;
      // Already held, but possibly still on its way to disk: re-putting the same
      // object rides the same group commit, and we acknowledge only after it.
      await this.store.put(partition, key, local);
      return local;
    }
    this.applied++;
    await this.store.put(partition, key, merged, local === undefined ? packed : undefined);
    return merged;
  }
}
