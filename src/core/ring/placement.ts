import type { Hasher } from '../../ports/hasher.js';
import type { NodeId } from '../messages.js';
import { partitionOfHash, preferenceList, type Preflist, type Ring } from './ring.js';

/**
 * Where keys live under the current ring: key → partition → preference list.
 * Preference lists are cached per partition and dropped when the ring changes,
 * so the per-request cost is one hash and one array lookup.
 */
export class Placement {
  private current: Ring;
  private zones: ReadonlyMap<NodeId, string> | undefined;
  private cache: Array<Preflist | undefined>;

  constructor(
    private readonly hasher: Hasher,
    ring: Ring,
  ) {
    this.current = ring;
    this.cache = new Array<Preflist | undefined>(ring.partitions);
  }

  get ring(): Ring {
    return this.current;
  }

  setRing(ring: Ring, zones?: ReadonlyMap<NodeId, string>): void {
    this.current = ring;
    this.zones = zones && zones.size > 0 ? zones : undefined;
    this.cache = new Array<Preflist | undefined>(ring.partitions);
  }

  partitionOf(key: string): number {
    return partitionOfHash(this.hasher.hash64(key), this.current.partitions);
  }

  preflist(partition: number): Preflist {
    let cached = this.cache[partition];
    if (cached === undefined) {
      cached = preferenceList(this.current, partition, this.zones);
      const moving = this.pendingSources(partition, cached.primaries);
      if (moving.length > 0) cached.pending = moving;
      this.cache[partition] = cached;
    }
    return cached;
  }

  /** Old primaries of `partition` still handing it off under the current ring (not primaries any more). */
  private pendingSources(partition: number, primaries: readonly NodeId[]): NodeId[] {
    const moving: NodeId[] = [];
    for (const t of this.current.pending ?? []) {
      if (t.partition === partition && !primaries.includes(t.from) && !moving.includes(t.from)) moving.push(t.from);
    }
    return moving;
  }

  locate(key: string): Preflist {
    return this.preflist(this.partitionOf(key));
  }
}
