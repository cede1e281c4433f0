import { afterEach, describe, expect, it } from 'vitest';
import { liveSiblings } from '../../src/core/version/dvv.js';
import { LocalCluster } from './support/local-cluster.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const all = { w: 3, pw: 0, timeoutMs: 1000 };

describe('tombstone reaping', () => {
  let cluster: LocalCluster;
  afterEach(() => cluster?.close());

  async function deleted(key: string): Promise<string[]> {
    const put = await cluster.node('n1').put(key, { value: text('v'), contentType: 'text/plain', context: [] }, all);
    await cluster.node('n1').delete(key, put.vv, { ...all, r: 3, pr: 0 });
    return cluster.node('n1').preflist(key).primaries;
  }

  it('reaps a tombstone every primary holds once the grace period has passed', async () => {
    cluster = await LocalCluster.create(4, 3, 16, { tombstoneGraceMs: 0 });
    const primaries = await deleted('gone');
    for (const id of primaries) expect(cluster.node(id).localGet('gone')).toBeDefined();
    for (let i = 0; i < 16; i++) await cluster.node(primaries[0]!).reaper.round();
    for (const id of primaries) expect(cluster.node(id).localGet('gone')).toBeUndefined();
    expect(cluster.node(primaries[0]!).reaper.reaped).toBe(1);
    // Written again after the reap: one value, a fresh dot.
    const again = await cluster.node('n2').put('gone', { value: text('back'), contentType: 'text/plain', context: [] }, all);
    expect(liveSiblings(again).map((s) => new TextDecoder().decode(s.value))).toEqual(['back']);
    expect(again.siblings).toHaveLength(1);
  });

  it('keeps tombstones inside the grace period', async () => {
    cluster = await LocalCluster.create(3, 3, 16, { tombstoneGraceMs: 60_000 });
    const primaries = await deleted('young');
    for (let i = 0; i < 16; i++) await cluster.node(primaries[0]!).reaper.round();
    for (const id of primaries) expect(cluster.node(id).localGet('young')).toBeDefined();
  });

  it('keeps a tombstone while some primary lacks it, and keeps live values', async () => {
    cluster = await LocalCluster.create(3, 3, 16, { tombstoneGraceMs: 0 });
    const put = await cluster.node('n1').put('partial', { value: text('v'), contentType: 'text/plain', context: [] }, all);
    const primaries = cluster.node('n1').preflist('partial').primaries;
    cluster.down.add(primaries[2]!);
    await cluster.node(primaries[0]!).delete('partial', put.vv, { w: 2, pw: 0, timeoutMs: 1000, r: 2, pr: 0 });
    cluster.down.clear();
    await cluster.node('n1').put('alive', { value: text('v'), contentType: 'text/plain', context: [] }, all);
    for (let i = 0; i < 16; i++) for (const n of cluster.nodes.values()) await n.reaper.round();
    for (const id of primaries.slice(0, 2)) expect(cluster.node(id).localGet('partial')).toBeDefined();
    for (const id of primaries) expect(cluster.node(id).localGet('alive')).toBeDefined();
  });
});
