import { afterEach, describe, expect, it } from 'vitest';
import { peerPackr } from '../../src/adapters/msgpack.js';
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

  it('a replica answering with bytes that do not decode counts as a failed replica, not a crash', async () => {
    cluster = await LocalCluster.create(3);
    await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, { ...write, w: 3 });
    const n2 = cluster.node('n2');
    const real = n2.handlePeer.bind(n2);
    n2.handlePeer = async (message) => (message.type === 'read' ? { type: 'object', packed: new Uint8Array([0xc1, 0x00]) } : real(message));
    // r=2 is still met by the two good replicas; r=3 cannot be.
    expect(values(await cluster.node('n1').get('k', read))).toEqual(['a']);
    const failure = await cluster.node('n1').get('k', { ...read, r: 3 }).catch((e: unknown) => e);
    expect((failure as DynakvError).code).toBe('quorum_not_met');
    expect((failure as DynakvError).details).toMatchObject({ required: 3, acknowledged: 2 });
  });

  it('a replica whose copy differs from the coordinator\'s is decoded and merged, and repaired', async () => {
    cluster = await LocalCluster.create(3);
    const first = await cluster.node('n1').put('k', { value: text('a'), contentType: 'text/plain', context: [] }, { ...write, w: 3 });
    cluster.down.add('n3');
    await cluster.node('n1').put('k', { value: text('b'), contentType: 'text/plain', context: first.vv }, write);
    cluster.down.delete('n3');
    expect(values(cluster.node('n3').localGet('k'))).toEqual(['a']);
    const seen = await cluster.node('n3').get('k', { ...read, r: 3, repairSync: true });
    expect(values(seen)).toEqual(['b']);
    expect(values(cluster.node('n3').localGet('k'))).toEqual(['b']);
  });

  it('with N=1 the one replica answers from its own copy, and other nodes read it from there', async () => {
    cluster = await LocalCluster.create(3, 1);
    await cluster.node('n2').put('solo', { value: text('x'), contentType: 'text/plain', context: [] }, { ...write, w: 1 });
    const [owner] = cluster.node('n1').preflist('solo').primaries;
    cluster.down.add(owner!); // the owner's own read asks nobody else
    expect(values(await cluster.node(owner!).get('solo', { ...read, r: 1 }))).toEqual(['x']);
    cluster.down.delete(owner!);
    for (const id of ['n1', 'n2', 'n3']) expect(values(await cluster.node(id).get('solo', { ...read, r: 1 }))).toEqual(['x']);
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
    for (const junk of [null, 42, 'x', [], { type: 'replicate' }, { type: 'replicate', partition: -1, key: 'k', object: [] }, { type: 'replicate', partition: 0, key: 'k', object: [[['a', 0]], []] }, { type: 'replicate', partition: 0, key: 'k', object: new Uint8Array([0xc1]) }, { type: 'replicate', partition: 0, key: 'k', object: peerPackr.pack([[['a', 0]], []]) }, { type: 'replicate', partition: 0, key: 'k', object: new Uint8Array(0) }, { type: 'coordinate', request: { op: 'put' } }, { type: 'members', from: {}, members: [] }, { type: 'nope' }]) {
      const reply = await node.handlePeer(junk);
      expect(reply.type).toBe('error');
    }
    expect(node.localGet('k')).toBeUndefined(); // nothing malformed was stored
  });

  it('sloppy quorum: with two primaries down a w=2 write goes to a fallback with a hint; pw=2 fails', async () => {
    cluster = await LocalCluster.create(5);
    const pl = cluster.node('n1').preflist('cart');
    const [p1, p2, p3] = pl.primaries as [string, string, string];
    cluster.down.add(p2);
    cluster.down.add(p3);
    await cluster.node(p1).put('cart', { value: text('a'), contentType: 'text/plain', context: [] }, write);
    const strict = await cluster.node(p1).put('cart', { value: text('b'), contentType: 'text/plain', context: [] }, { ...write, pw: 2 }).catch((e: unknown) => e);
    expect((strict as DynakvError).code).toBe('quorum_not_met');
    expect((strict as DynakvError).details).toMatchObject({ required: 2, acknowledged: 1 });
    const holders = [...cluster.nodes.values()].filter((n) => n.hints.stats().pending > 0);
    expect(holders.length).toBeGreaterThan(0);
    for (const h of holders) expect(pl.fallbacks).toContain(h.id);
    // A read at r=2 is answered by the primary and a fallback holding the hint.
    expect(values(await cluster.node(p1).get('cart', read))).toEqual(['a', 'b']);
    // Owners come back: one delivery round hands every hint over, and the queues empty.
    cluster.down.clear();
    for (const h of holders) h.handoff.round();
    await new Promise((r) => setTimeout(r, 20));
    for (const id of [p2, p3]) expect(values(cluster.node(id).localGet('cart'))).toEqual(['a', 'b']);
    for (const n of cluster.nodes.values()) expect(n.hints.stats().pending).toBe(0);
  });

  it('with 4 of 5 nodes down the last one takes a w=1 write and hands it to all primaries later', async () => {
    cluster = await LocalCluster.create(5);
    const pl = cluster.node('n1').preflist('lonely');
    const survivor = pl.fallbacks[pl.fallbacks.length - 1]!;
    for (const id of cluster.nodes.keys()) if (id !== survivor) cluster.down.add(id);
    await cluster.node(survivor).put('lonely', { value: text('x'), contentType: 'text/plain', context: [] }, { ...write, w: 1 });
    expect(cluster.node(survivor).coordinator.fallbackCoordinated).toBe(1);
    expect(cluster.node(survivor).hints.stats().pending).toBeGreaterThan(0);
    cluster.down.clear();
    for (let i = 0; i < 3; i++) {
      for (const n of cluster.nodes.values()) n.handoff.round();
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const id of pl.primaries) expect(values(cluster.node(id).localGet('lonely'))).toEqual(['x']);
  });

  it('with hinted handoff off a failed primary is not replaced', async () => {
    cluster = await LocalCluster.create(5, 3, 64, { hintedHandoff: false });
    const pl = cluster.node('n1').preflist('strict');
    cluster.down.add(pl.primaries[1]!);
    cluster.down.add(pl.primaries[2]!);
    const failure = await cluster.node(pl.primaries[0]!).put('strict', { value: text('a'), contentType: 'text/plain', context: [] }, write).catch((e: unknown) => e);
    expect((failure as DynakvError).code).toBe('quorum_not_met');
    for (const n of cluster.nodes.values()) expect(n.hints.stats().pending).toBe(0);
  });

  it('sheds load past the in-flight bound with overloaded and a retry hint', async () => {
    cluster = await LocalCluster.create(3, 3, 16, { requestsInflightMax: 1 });
    const first = cluster.node('n1').put('a', { value: text('1'), contentType: 'text/plain', context: [] }, write);
    const second = await cluster.node('n1').put('b', { value: text('2'), contentType: 'text/plain', context: [] }, write).catch((e: unknown) => e);
    expect((second as DynakvError).code).toBe('overloaded');
    expect((second as DynakvError).details.retryAfterSeconds).toBe(1);
    await first;
    expect(cluster.node('n1').shed).toBe(1);
    await cluster.node('n1').put('b', { value: text('2'), contentType: 'text/plain', context: [] }, write);
  });

  it('a fallback coordinator keeps both of two blind writes after its hints are handed off (sim seed 624)', async () => {
    cluster = await LocalCluster.create(5);
    const key = 'cart:blind';
    const pl = cluster.node('n1').preflist(key);
    const outsider = pl.fallbacks[0]!;
    for (const id of pl.primaries) cluster.down.add(id);
    await cluster.node(outsider).put(key, { value: text('first'), contentType: 'text/plain', context: [] }, { ...write, w: 1 });
    cluster.down.clear();
    for (const n of cluster.nodes.values()) n.handoff.round();
    await new Promise((r) => setTimeout(r, 20));
    for (const id of pl.primaries) cluster.down.add(id);
    await cluster.node(outsider).put(key, { value: text('second'), contentType: 'text/plain', context: [] }, { ...write, w: 1 });
    cluster.down.clear();
    for (let i = 0; i < 3; i++) {
      for (const n of cluster.nodes.values()) n.handoff.round();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(values(await cluster.node(pl.primaries[0]!).get(key, { ...read, r: 3, repairSync: true }))).toEqual(['first', 'second']);
  });
});
