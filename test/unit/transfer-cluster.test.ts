import { afterEach, describe, expect, it } from 'vitest';
import type { KvNode } from '../../src/core/kv-node.js';
import { TransferCluster } from './support/transfer-cluster.js';

const TEXT = 'text/plain';
const ALL = { r: 3, pr: 0, timeoutMs: 2000, repairSync: false };

async function put(node: KvNode, key: string, w = 3): Promise<void> {
  await node.put(key, { value: Buffer.from(`v-${key}`), contentType: TEXT, context: [] }, { w, pw: 0, timeoutMs: 2000 });
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every partition held by a node it is neither a primary of nor handing off, with its key count. */
function strayPartitions(cluster: TransferCluster, id: string): number[] {
  const node = cluster.node(id);
  const store = cluster.stores.get(id)!;
  const stray: number[] = [];
  for (let p = 0; p < cluster.partitions; p++) {
    if (node.placement.preflist(p).primaries.includes(id)) continue;
    if (store.scan(p, undefined, 1).length > 0) stray.push(p);
  }
  return stray;
}

describe('join and leave move data (in-process cluster)', () => {
  let cluster: TransferCluster | undefined;
  afterEach(() => cluster?.close());

  it('join streams partitions to the newcomer under writes; leave empties the leaver', async () => {
    cluster = await TransferCluster.create(3, 3, 64);
    const n1 = cluster.node('n1');
    const before = Array.from({ length: 400 }, (_, i) => `k${i}`);
    for (const key of before) await put(n1, key);

    // writer during the join: every acknowledged key must survive
    const acked: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 5000; i++) {
        try {
          await put(cluster!.node(`n${(i % 3) + 1}`), `w${i}`, 2);
          acked.push(`w${i}`);
        } catch {
          /* not acknowledged: no promise made */
        }
      }
    })();

    const n4 = cluster.join('n4');
    await until('n4 in the ring', () => n1.ring().owners.includes('n4'));
    const sawPending = (n1.rings.current?.pending?.length ?? 0) > 0;
    await until('transfers to finish', () => cluster!.node('n1').rings.current!.pending === undefined && n4.rings.current?.version === n1.rings.current?.version);
    writing = false;
    await writer;

    expect(sawPending).toBe(true);
    const owned = n1.ring().owners.filter((o) => o === 'n4').length;
    expect(owned).toBeGreaterThanOrEqual(16 * 0.85);
    expect(owned).toBeLessThanOrEqual(16 * 1.15);
    expect(acked.length).toBeGreaterThan(0);
    for (const key of [...before, ...acked]) {
      const got = await n4.get(key, ALL);
      expect(got, key).toBeDefined();
    }
    // n4 holds its replicas itself (not only through reads of old owners)
    const n4Keys = before.filter((k) => n4.preflist(k).primaries.includes('n4'));
    for (const key of n4Keys) expect(n4.localGet(key), key).toBeDefined();
    // the old owners dropped what they handed off, once verified
    await until('drops', () => ['n1', 'n2', 'n3'].every((id) => strayPartitions(cluster!, id).length === 0), 5000);
    const sent = ['n1', 'n2', 'n3'].map((id) => cluster!.node(id).transfers.status());
    expect(sent.reduce((a, s) => a + s.verified, 0)).toBeGreaterThan(0);
    expect(sent.reduce((a, s) => a + s.partitionsDropped, 0)).toBeGreaterThan(0);

    // leave: n2 hands everything off, becomes left, stops
    const reply = cluster.node('n2').leave();
    expect(reply.status).toBe('leaving');
    await until('n2 to leave', () => cluster!.left.has('n2'));
    expect(n1.ring().owners).not.toContain('n2');
    expect(n1.rings.current!.pending).toBeUndefined();
    expect(cluster.stores.get('n2')!.stats().keys).toBe(0);
    await until('n2 seen as left', () => n1.members().find((m) => m.id === 'n2')?.status === 'left', 5000);
    for (const key of [...before, ...acked]) {
      const got = await n1.get(key, ALL);
      expect(got, key).toBeDefined();
    }
  }, 60_000);
});
