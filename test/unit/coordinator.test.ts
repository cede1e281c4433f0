import { afterEach, describe, expect, it } from 'vitest';
import { DynakvError } from '../../src/core/errors.js';
import { liveSiblings } from '../../src/core/version/dvv.js';
import { LocalCluster } from './support/local-cluster.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const read = { r: 2, pr: 0, timeoutMs: 1000, repairSync: false };
const write = { w: 2, pw: 0, timeoutMs: 1000 };

function values(obj: { siblings: readonly { value: Uint8Array; deleted: boolean }[] } | undefined): string[] {
  if (!obj) return [];
  return liveSiblings(obj as never).map((s) => new TextDecoder().decode(s.value)).sort();
}

describe('coordinator over an in-process cluster', () => {
  let cluster: LocalCluster;
  afterEach(() => cluster?.close());

  it('a write on one node reads back from every node, stored on all N primaries', async () => {
    cluster = await LocalCluster.create(4);
    await cluster.node('n1').put('cart:1', { value: text('book'), contentType: 'text/plain', context: [] }, { ...write, w: 3 });
    for (const id of ['n1', 'n2', 'n3', 'n4']) {
      expect(values(await cluster.node(id).get('cart:1', read))).toEqual(['book']);
    }
    const primaries = cluster.node('n2').preflist('cart:1').primaries;
    expect(primaries).toHaveLength(3);
    for (const id of primaries) expect(values(cluster.node(id).localGet('cart:1'))).toEqual(['book']);
    const outsider = ['n1', 'n2', 'n3', 'n4'].find((id) => !primaries.includes(id))!;
    expect(cluster.node(outsider).localGet('cart:1')).toBeUndefined();
  });

  it('writes without context become siblings; a write with the merged context replaces them', async () => {
    cluster = await LocalCluster.create(3);
    await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, write);
    await cluster.node('n2').put('k', { value: text('b'), contentType: 'text/plain', context: [] }, write);
    const both = await cluster.node('n3').get('k', { ...read, r: 3 });
    expect(values(both)).toEqual(['a', 'b']);
    await cluster.node('n3').put('k', { value: text('c'), contentType: 'text/plain', context: both!.vv }, write);
    expect(values(await cluster.node('n1').get('k', { ...read, r: 3 }))).toEqual(['c']);
  });

  it('a delete with context leaves only a tombstone; a put with its context gives one value', async () => {
    cluster = await LocalCluster.create(3);
    const put = await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, write);
    const tomb = await cluster.node('n2').delete('k', put.vv, { ...write, r: 2, pr: 0 });
    const after = await cluster.node('n3').get('k', read);
    expect(values(after)).toEqual([]);
    expect(after?.siblings.every((s) => s.deleted)).toBe(true);
    await cluster.node('n3').put('k', { value: text('b'), contentType: 'text/plain', context: tomb.vv }, write);
    const final = await cluster.node('n1').get('k', { ...read, r: 3 });
    expect(values(final)).toEqual(['b']);
    expect(final?.siblings).toHaveLength(1);
  });

  it('a delete without context reads the context itself', async () => {
    cluster = await LocalCluster.create(3);
    await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, write);
    await cluster.node('n2').put('k', { value: text('b'), contentType: 'text/plain', context: [] }, write);
    await cluster.node('n3').delete('k', undefined, { ...write, w: 3, r: 3, pr: 0 });
    expect(values(await cluster.node('n1').get('k', { ...read, r: 3 }))).toEqual([]);
  });

  it('with one primary down, quorum succeeds and w=all fails with required 3', async () => {
    cluster = await LocalCluster.create(3);
    cluster.down.add('n3');
    await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, write);
    expect(values(await cluster.node('n2').get('k', read))).toEqual(['a']);
    const failure = await cluster.node('n1').put('k', { value: text('b'), contentType: 'text/plain', context: [] }, { ...write, w: 3 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DynakvError);
    expect((failure as DynakvError).code).toBe('quorum_not_met');
    expect((failure as DynakvError).details).toMatchObject({ required: 3, acknowledged: 2 });
    const readAll = await cluster.node('n1').get('k', { ...read, r: 3 }).catch((e: unknown) => e);
    expect((readAll as DynakvError).code).toBe('quorum_not_met');
  });

  it('a node outside the preference list forwards writes to a primary', async () => {
    cluster = await LocalCluster.create(5);
    const pl = cluster.node('n1').preflist('fwd');
    const outsider = ['n1', 'n2', 'n3', 'n4', 'n5'].find((id) => !pl.primaries.includes(id))!;
    await cluster.node(outsider).put('fwd', { value: text('x'), contentType: 'text/plain', context: [] }, { ...write, w: 3 });
    expect(cluster.node(outsider).coordinator.forwarded).toBe(1);
    expect(cluster.node(outsider).localGet('fwd')).toBeUndefined();
    for (const id of pl.primaries) expect(values(cluster.node(id).localGet('fwd'))).toEqual(['x']);
    const obj = cluster.node(pl.primaries[0]!).localGet('fwd')!;
    expect(pl.primaries.some((p) => obj.siblings[0]!.dot.actor.startsWith(`${p}.`))).toBe(true);
  });

  it('read repair brings a replica that missed a write up to date', async () => {
    cluster = await LocalCluster.create(3);
    cluster.down.add('n3');
    await cluster.node('n1').put('rr', { value: text('v'), contentType: 'text/plain', context: [] }, write);
    cluster.down.delete('n3');
    expect(cluster.node('n3').localGet('rr')).toBeUndefined();
    await cluster.node('n1').get('rr', { ...read, r: 3, repairSync: true });
    expect(values(cluster.node('n3').localGet('rr'))).toEqual(['v']);
  });

  it('rejects malformed peer messages with an error reply, never a throw', async () => {
    cluster = await LocalCluster.create(3);
    const node = cluster.node('n1');
    for (const junk of [null, 42, 'x', [], { type: 'replicate' }, { type: 'replicate', partition: -1, key: 'k', object: [] }, { type: 'replicate', partition: 0, key: 'k', object: [[['a', 0]], []] }, { type: 'coordinate', request: { op: 'put' } }, { type: 'members', from: {}, members: [] }, { type: 'nope' }]) {
      const reply = await node.handlePeer(junk);
      expect(reply.type).toBe('error');
    }
  });
});
