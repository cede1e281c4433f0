import { assert } from '../assert.js';
import type { Replica } from '../replica/replica.js';
import { fromWire } from '../version/codec.js';
import { equalObjects } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';

/**
 * The receiving side of a handoff batch (riak_core's handoff receiver): every
 * object is merged into the local copy (Replica.apply: DVV merge, durable
 * write), so a batch may arrive twice, or after a client write of the same
 * key, without harm. Returns how many keys the batch changed here; a whole
 * pass with none changed is the sender's proof that this node holds it all.
 * Objects are validated before anything is applied: a bad batch applies nothing.
 */
export async function applyBatch(replica: Replica, partition: number, keys: readonly string[], objects: readonly unknown[]): Promise<number> {
  assert(keys.length === objects.length, 'transfer: keys and objects differ in length');
  const decoded: VersionedObject[] = objects.map((o) => fromWire(o));
  let changed = 0;
  await Promise.all(
    keys.map(async (key, i) => {
      const before = replica.read(partition, key);
      const after = await replica.apply(partition, key, decoded[i]!);
      if (before === undefined || !equalObjects(before, after)) changed++;
    }),
  );
  assert(changed <= keys.length, 'transfer: more changes than keys');
  return changed;
}
