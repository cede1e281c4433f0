import { MemoryStore } from '../../../src/adapters/memory-store.js';
import { SystemClock } from '../../../src/adapters/system-clock.js';
import { createHasher } from '../../../src/adapters/xxhash.js';
import { KvNode } from '../../../src/core/kv-node.js';
import type { MemberInfo, NodeId, PeerReply, PeerRequest } from '../../../src/core/messages.js';
import type { Hasher } from '../../../src/ports/hasher.js';
import type { Transport } from '../../../src/ports/transport.js';
import { deliver, StepRandom } from './loopback.js';

/** Gossip fast enough for a unit test on real time. */
const FAST_GOSSIP = { probeIntervalMs: 40, probeTimeoutMs: 20, pushPullIntervalMs: 100, bootstrapIntervalMs: 20, pushPullTimeoutMs: 500 };
const FAST_TRANSFERS = { tickMs: 20, retryDelayMs: 50, batchesPerSecondMax: 1000, keysPerBatchMax: 32, leftLingerMs: 50 };

/**
 * An in-process cluster that can grow and shrink: KvNodes on MemoryStores,
 * joined by a loopback transport (through msgpack) that also resolves seed
 * addresses (`@peer`), with fast gossip and handoff timings on the real clock.
 */
export class TransferCluster {
  readonly nodes = new Map<NodeId, KvNode>();
  readonly stores = new Map<NodeId, MemoryStore>();
  readonly left = new Set<NodeId>();
  private readonly clock = new SystemClock();

  private constructor(
    private readonly hasher: Hasher,
    readonly replicas: number,
    readonly partitions: number,
  ) {}

  static async create(size: number, replicas = 3, partitions = 64): Promise<TransferCluster> {
    const cluster = new TransferCluster(await createHasher(), replicas, partitions);
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const members: MemberInfo[] = ids.map((id) => ({ id, api: `${id}:api`, peer: `${id}:peer`, status: 'alive', incarnation: 1, zone: undefined }));
    for (const id of ids) cluster.addNode(id, [], members);
    for (const node of cluster.nodes.values()) node.start();
    return cluster;
  }

  /** A new node that joins through n1's peer address (seed). */
  join(id: NodeId): KvNode {
    const node = this.addNode(id, ['n1:peer'], []);
    node.start();
    return node;
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

  private addNode(id: NodeId, seeds: string[], members: MemberInfo[]): KvNode {
    const store = new MemoryStore();
    this.stores.set(id, store);
    const node = new KvNode(
      {
        id,
        actor: `${id}.test`,
        api: `${id}:api`,
        peer: `${id}:peer`,
        zone: undefined,
        seeds,
        replicas: this.replicas,
        partitions: this.partitions,
        siblingsMax: 100,
        valueBytesMax: 1024 * 1024,
        incarnation: 1,
        knownMembers: members,
        membership: FAST_GOSSIP,
        transferConfig: FAST_TRANSFERS,
      },
      {
        store,
        transport: this.transportFor(id),
        clock: this.clock,
        random: new StepRandom(),
        hasher: this.hasher,
        persistMembers: () => undefined,
        onLeft: () => {
          this.left.add(id);
          node.stop();
        },
      },
    );
    this.nodes.set(id, node);
    return node;
  }

  private resolve(to: NodeId): KvNode | undefined {
    if (!to.startsWith('@')) return this.left.has(to) ? undefined : this.nodes.get(to);
    const peer = to.slice(1);
    return [...this.nodes.values()].find((n) => n.config.peer === peer && !this.left.has(n.id));
  }

  private transportFor(from: NodeId): Transport {
    return {
      request: async (to: NodeId, message: PeerRequest): Promise<PeerReply> => {
        if (this.left.has(from)) throw new Error(`${from} has stopped`);
        const target = this.resolve(to);
        if (target === undefined) throw new Error(`${to} unreachable`);
        return deliver(target, message);
      },
    };
  }
}
