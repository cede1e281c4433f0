import { MemoryStore } from '../../../src/adapters/memory-store.js';
import { SystemClock } from '../../../src/adapters/system-clock.js';
import { createHasher } from '../../../src/adapters/xxhash.js';
import { KvNode } from '../../../src/core/kv-node.js';
import type { MemberInfo, NodeId, PeerReply, PeerRequest } from '../../../src/core/messages.js';
import type { Transport } from '../../../src/ports/transport.js';
import { deliver, StepRandom } from './loopback.js';

/**
 * An in-process cluster of KvNodes joined by a loopback "network" that calls
 * handlePeer directly (through msgpack, so nothing is shared by reference).
 * Nodes can be taken down (requests to them fail) and brought back.
 */
export class LocalCluster {
  readonly nodes = new Map<NodeId, KvNode>();
  readonly stores = new Map<NodeId, MemoryStore>();
  readonly down = new Set<NodeId>();
  private readonly clock = new SystemClock();

  static async create(size: number, replicas = 3, partitions = 64, options: { hintedHandoff?: boolean; tombstoneGraceMs?: number; requestsInflightMax?: number } = {}): Promise<LocalCluster> {
    const cluster = new LocalCluster();
    const hasher = await createHasher();
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const members: MemberInfo[] = ids.map((id) => ({ id, api: `${id}:api`, peer: `${id}:peer`, status: 'alive', incarnation: 1, zone: undefined }));
    for (const id of ids) {
      const store = new MemoryStore();
      cluster.stores.set(id, store);
      const node = new KvNode(
        {
          id,
          actor: `${id}.test`,
          api: `${id}:api`,
          peer: `${id}:peer`,
          zone: undefined,
          seeds: [],
          replicas,
          partitions,
          siblingsMax: 100,
          valueBytesMax: 1024 * 1024,
          incarnation: 1,
          hintedHandoff: options.hintedHandoff ?? true,
          ...(options.tombstoneGraceMs === undefined ? {} : { tombstoneGraceMs: options.tombstoneGraceMs }),
          ...(options.requestsInflightMax === undefined ? {} : { requestsInflightMax: options.requestsInflightMax }),
          knownMembers: members,
        },
        { store, transport: cluster.transportFor(id), clock: cluster.clock, random: new StepRandom(), hasher, persistMembers: () => undefined },
      );
      cluster.nodes.set(id, node);
    }
    return cluster;
  }

  node(id: NodeId): KvNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  close(): void {
    for (const node of this.nodes.values()) node.stop();
    this.clock.clearAll();
  }

  private transportFor(from: NodeId): Transport {
    return {
      request: async (to: NodeId, message: PeerRequest): Promise<PeerReply> => {
        if (this.down.has(to) || this.down.has(from)) throw new Error(`${to} unreachable`);
        const target = this.nodes.get(to);
        if (target === undefined) throw new Error(`no node ${to}`);
        const reply = await deliver(target, message);
        if (this.down.has(to)) throw new Error(`${to} went down`);
        return reply;
      },
    };
  }
}
