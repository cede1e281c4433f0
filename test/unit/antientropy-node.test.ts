import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { createHasher } from '../../src/adapters/xxhash.js';
import { KvNode } from '../../src/core/kv-node.js';
import { isDeleted, liveSiblings } from '../../src/core/version/dvv.js';
import { LocalCluster } from './support/local-cluster.js';

/** Anti-entropy inside KvNode: trees behind the store, scheduled exchanges, status, the off switch. */

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = { w: 2, pw: 0, timeoutMs: 1000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('anti-entropy in KvNode', () => {
  let cluster: LocalCluster | undefined;
  afterEach(() => cluster?.close());

  it('a replica that missed writes (no handoff, no reads) catches up through exchanges alone', async () => {
    cluster = await LocalCluster.create(3, 3, 16, { hintedHandoff: false });
    const c = cluster;
    for (const n of c.nodes.values()) n.antiEntropy.start();
    c.down.add('n3');
    for (let i = 0; i < 120; i++) await c.node('n1').put(`k${i}`, { value: text(`v${i}`), contentType: 'text/plain', context: [] }, write);
    const del = await c.node('n1').put('gone', { value: text('x'), contentType: 'text/plain', context: [] }, { ...write, w: 2 });
    c.down.delete('n3');
    await c.node('n3').put('gone', { value: text('x'), contentType: 'text/plain', context: [] }, { ...write, w: 1 }); // a concurrent sibling on n3…
    c.down.add('n3');
    await c.node('n1').delete('gone', del.vv, { ...write, r: 2, pr: 0 }); // …and a delete n3 misses
    c.down.delete('n3');
    const missing = () => Array.from({ length: 120 }, (_, i) => `k${i}`).filter((k) => c.node('n3').localGet(k) === undefined);
    expect(missing().length).toBe(120);
    for (let round = 0; round < 300 && missing().length > 0; round++) {
      for (const n of c.nodes.values()) n.antiEntropy.round();
      await sleep(5);
    }
    expect(missing()).toEqual([]);
    expect(liveSiblings(c.node('n3').localGet('k7')!).map((s) => new TextDecoder().decode(s.value))).toEqual(['v7']);
    // The delete reached n3; n3's concurrent sibling (which the delete had not seen) survives on every replica.
    for (let round = 0; round < 100; round++) {
      for (const n of c.nodes.values()) n.antiEntropy.round();
      await sleep(5);
    }
    const gone = ['n1', 'n2', 'n3'].map((id) => c.node(id).localGet('gone')!);
    expect(gone.every((o) => !isDeleted(o) && liveSiblings(o).length === 1 && o.siblings.some((s) => s.deleted))).toBe(true);
    const status = c.node('n3').status().antiEntropy;
    const all = ['n1', 'n2', 'n3'].map((id) => c.node(id).status().antiEntropy);
    expect(all.reduce((n, s) => n + s.keysRepaired, 0)).toBeGreaterThanOrEqual(121);
    expect(status.lastExchange).toBeGreaterThan(0);
    expect(status.bytesSent).toBeGreaterThan(0);
    expect(status.treesBuilt).toBe(16);
    expect(status.enabled).toBe(true);
  });

  it('--anti-entropy off: no trees, no exchanges, peers get an error reply', async () => {
    const clock = new SystemClock();
    const node = new KvNode(
      {
        id: 'n1', actor: 'n1.t', api: 'a', peer: 'p', zone: undefined, seeds: [], replicas: 1, partitions: 8,
        siblingsMax: 10, valueBytesMax: 1024, incarnation: 1, knownMembers: [], antiEntropy: false,
      },
      { store: new MemoryStore(), transport: { request: () => Promise.reject(new Error('no network')) }, clock, random: { next: () => 0.5, int: () => 0 }, hasher: await createHasher(), persistMembers: () => undefined },
    );
    node.antiEntropy.start();
    node.antiEntropy.round();
    const reply = await node.handlePeer({ type: 'aae-roots', partitions: [0] });
    expect(reply).toMatchObject({ type: 'error', code: 'anti_entropy_off' });
    expect(node.status().antiEntropy).toMatchObject({ enabled: false, lastExchange: null, keysRepaired: 0, bytesSent: 0, treesBuilt: 0 });
    node.stop();
    clock.clearAll();
  });

  it('answers garbage on the peer port with an error, never a throw', async () => {
    cluster = await LocalCluster.create(1, 1, 8);
    const node = cluster.node('n1');
    for (const bad of [{ type: 'aae-keys', partition: -1, segments: [] }, { type: 'aae-fetch', partition: 0, keys: [7] }, { type: 'aae-hashes', partition: 0, branches: 'x' }]) {
      expect((await node.handlePeer(bad)).type).toBe('error');
    }
  });
});
