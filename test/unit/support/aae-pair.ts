/**
 * Two replicas of one partition for anti-entropy unit tests: each a TreeStore
 * over a MemoryStore with its Replica. `link(a, b)` gives `a` an ExchangeDeps
 * whose requests reach `b` through msgpack (as on the peer port: validated by
 * parsePeerRequest, answered by serveAae / Replica.apply), counting real bytes.
 */
import { MemoryStore } from '../../../src/adapters/memory-store.js';
import { peerPackr } from '../../../src/adapters/msgpack.js';
import type { ExchangeDeps } from '../../../src/core/antientropy/exchange.js';
import { serveAae } from '../../../src/core/antientropy/serve.js';
import { TreeStore } from '../../../src/core/antientropy/tree-store.js';
import type { PeerReply, PeerRequest } from '../../../src/core/messages.js';
import { parsePeerRequest } from '../../../src/core/peer-protocol.js';
import { Replica } from '../../../src/core/replica/replica.js';
import { unpackObject } from '../../../src/core/version/codec.js';

export interface Side {
  readonly store: MemoryStore;
  readonly trees: TreeStore;
  readonly replica: Replica;
}

/** A replica with an empty store whose trees are built (nothing to scan). */
export function makeSide(partitions = 8, store = new MemoryStore()): Side {
  const trees = new TreeStore(store, partitions);
  while (!trees.buildStep(1 << 20));
  return { store, trees, replica: new Replica(trees) };
}

export interface WireStats {
  /** msgpack bytes of requests (initiator → peer) and replies (peer → initiator). */
  requestBytes: number;
  replyBytes: number;
  requests: number;
  byType: Record<string, number>;
}

export function link(
  from: Side,
  to: Side,
  options: { partitionOf?: (key: string) => number; keysPerExchangeMax?: number; keysPerBatchMax?: number } = {},
): { deps: ExchangeDeps; wire: WireStats } {
  const wire: WireStats = { requestBytes: 0, replyBytes: 0, requests: 0, byType: {} };
  const deps: ExchangeDeps = {
    trees: from.trees,
    replica: from.replica,
    keysPerExchangeMax: options.keysPerExchangeMax ?? 4096,
    keysPerBatchMax: options.keysPerBatchMax ?? 128,
    partitionOf: options.partitionOf ?? (() => 0),
    yieldTurn: () => Promise.resolve(),
    ask: async (message: PeerRequest): Promise<PeerReply> => {
      const packed = peerPackr.pack(message);
      wire.requestBytes += packed.length;
      wire.requests++;
      wire.byType[message.type] = (wire.byType[message.type] ?? 0) + packed.length;
      const parsed = parsePeerRequest(peerPackr.unpack(packed));
      let reply: PeerReply;
      if (parsed.type === 'replicate') {
        await to.replica.apply(parsed.partition, parsed.key, unpackObject(parsed.object), parsed.object);
        reply = { type: 'ack' };
      } else if (parsed.type === 'aae-roots' || parsed.type === 'aae-hashes' || parsed.type === 'aae-keys' || parsed.type === 'aae-fetch') {
        reply = serveAae(to.trees, parsed);
      } else {
        throw new Error(`unexpected ${parsed.type}`);
      }
      const back = peerPackr.pack(reply);
      wire.replyBytes += back.length;
      wire.byType[`${message.type}:reply`] = (wire.byType[`${message.type}:reply`] ?? 0) + back.length;
      return peerPackr.unpack(back) as PeerReply;
    },
  };
  return { deps, wire };
}
