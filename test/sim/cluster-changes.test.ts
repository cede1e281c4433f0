import { describe, expect, it } from 'vitest';
import { MemoryHintLog } from '../../src/core/handoff/memory-hint-log.js';
import { HintedHandoff } from '../../src/core/handoff/handoff.js';
import { HintQueue } from '../../src/core/handoff/hint-queue.js';
import type { NodeId, PeerRequest } from '../../src/core/messages.js';
import { fromWire, packObject } from '../../src/core/version/codec.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import type { Transport } from '../../src/ports/transport.js';
import { SimCluster } from '../../src/sim/cluster.js';
import { Prng } from '../../src/sim/prng.js';
import { formatFailure, runSimulation, type SimResult } from '../../src/sim/simulation.js';
import { Trace } from '../../src/sim/trace.js';
import { macrotask, NodeClock, Scheduler } from '../../src/sim/virtual-clock.js';
import { itemsOf } from '../../src/sim/workload.js';

/**
 * Ring changes in the deterministic simulator (`npm run sim -- --changes`):
 * nodes join and leave mid-workload while the nemesis runs, and the checkers
 * (no lost acknowledged add, convergence, object invariants) must hold.
 * Then the core bugs these scenarios found, as directed regressions.
 */

function passed(result: SimResult): void {
  if (!result.ok) throw new Error(formatFailure(result));
  expect(result.faults).toBeGreaterThan(0);
  expect(result.acked).toBeGreaterThan(0);
  expect(result.set?.lost).toEqual([]);
  // Every acknowledged add was checked against the final read (none excused by a wipe here: w = 2).
  expect(result.set?.acked).toBe(result.acked);
  expect(result.set?.lostToWipe).toBe(0);
  expect(result.repair).toBe('passive');
}

describe('ring changes under faults', () => {
  it('a node joins mid-workload: it becomes a member, and nothing acknowledged is lost', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await runSimulation({ seed, changes: 'join' });
      passed(result);
      expect(result.changeCounts).toMatchObject({ midWorkload: 1, joins: 1, leaves: 0, left: 0 });
      expect(result.members).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
    }
  });

  it('a member leaves mid-workload: it hands everything off and stops, and nothing acknowledged is lost', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await runSimulation({ seed, changes: 'leave' });
      passed(result);
      expect(result.changeCounts).toMatchObject({ midWorkload: 1, joins: 0, leaves: 1, left: 1 });
      expect(result.members).toHaveLength(4);
    }
  });

  it('a join and a leave in one round, over two rounds', async () => {
    const result = await runSimulation({ seed: 4, changes: 'both', rounds: 2, steps: 120 });
    passed(result);
    expect(result.changeCounts.joins).toBe(2);
    expect(result.changeCounts.leaves).toBe(2);
    expect(result.changeCounts.left).toBe(2);
    expect(result.changeCounts.midWorkload).toBeGreaterThanOrEqual(2);
    expect(result.members).toHaveLength(5);
  });

  it('a handful of seeds with a drawn mix of joins and leaves', async () => {
    for (const seed of [6, 7, 8, 9, 10]) {
      const result = await runSimulation({ seed, changes: 'mixed' });
      passed(result);
      expect(result.changes).toBeGreaterThanOrEqual(1);
      expect(result.changeCounts.left).toBe(result.changeCounts.leaves);
      expect(result.members).toHaveLength(5 + result.changeCounts.joins - result.changeCounts.left);
    }
  });

  it('a member whose machine is lost for good is force-removed mid-workload; nothing acknowledged survives fewer losses than its copies', async () => {
    for (const seed of [3, 4]) {
      const result = await runSimulation({ seed, changes: 'remove' });
      if (!result.ok) throw new Error(formatFailure(result));
      expect(result.set?.lost).toEqual([]);
      expect(result.members).toHaveLength(4);
      expect(result.repair).toBe('passive');
    }
  });

  it('the same change seed gives the same trace hash, bit for bit', async () => {
    const first = await runSimulation({ seed: 5, changes: 'mixed' });
    const second = await runSimulation({ seed: 5, changes: 'mixed' });
    expect(first.changes).toBeGreaterThan(0);
    expect(second.trace).toBe(first.trace);
    expect(second.events).toBe(first.events);
    expect(second.members).toEqual(first.members);
    // Changes are part of the trace: the same seed without them runs differently.
    const without = await runSimulation({ seed: 5 });
    expect(without.trace).not.toBe(first.trace);
  });
});

async function settledCluster(seed: number): Promise<{ scheduler: Scheduler; cluster: SimCluster }> {
  const scheduler = new Scheduler(new Trace());
  const cluster = await SimCluster.create({ nodes: 5, replicas: 3, partitions: 64, siblingsMax: 100 }, scheduler, Prng.root(seed));
  await cluster.startAll();
  await scheduler.runFor(5000);
  return { scheduler, cluster };
}

describe('core bugs found by the ring-change scenarios (regressions)', () => {
  /**
   * Found by `npm run sim -- --changes --seeds 40` (seeds 1, 9, 16, 18): a node
   * killed while leaving came back as a member (status alive, or joining once
   * the claimant had moved its partitions away, and then was claimed back in):
   * the leave was silently cancelled. KvNode now starts as `leaving` when its
   * persisted member record says leaving (or left).
   */
  it('a leave survives a crash and restart of the leaving node', async () => {
    const { scheduler, cluster } = await settledCluster(31);
    cluster.leave('n3');
    await scheduler.runFor(200);
    expect(cluster.node('n3')!.membership.self().status).toBe('leaving');
    cluster.kill('n3');
    await scheduler.runFor(500);
    await cluster.restart('n3');
    expect(cluster.host('n3').left).toBe(false);
    expect(await scheduler.runUntil(() => cluster.host('n3').left, scheduler.nowMs + 60_000)).toBe(true);
    expect(cluster.ids).toEqual(['n1', 'n2', 'n4', 'n5']);
    await scheduler.runFor(5000);
    for (const id of cluster.ids) {
      const ring = cluster.node(id)!.rings.current!;
      expect(ring.owners).not.toContain('n3');
      expect(ring.pending ?? []).toEqual([]);
    }
  });

  /**
   * Found by `npm run sim -- --changes --seeds 40` (seeds 8, 36: "hints still
   * pending … n1 → n5 (left)"): hints held for a node that then left were
   * never delivered (its owner never comes back) and sat until the 3 h hint
   * window; with w = 1 a hint can be a write's only acknowledged copy. They
   * now go to the partition's current primaries.
   */
  it('hints for a node that has left go to the current primaries of their partition', async () => {
    const scheduler = new Scheduler(new Trace());
    const clock = new NodeClock(scheduler, 'h', () => 0, (_label, callback) => callback());
    const sent: Array<{ to: NodeId; message: PeerRequest }> = [];
    const down = new Set<NodeId>(['n2']);
    const transport: Transport = {
      request: async (to, message) => {
        if (down.has(to)) throw new Error(`${to} is down`);
        sent.push({ to, message });
        return { type: 'ack' };
      },
    };
    const hints = new HintQueue(new MemoryHintLog());
    const status: Record<NodeId, string> = { n1: 'alive', n2: 'alive', n3: 'alive', n4: 'alive', gone: 'left', dead: 'dead' };
    const object: VersionedObject = { vv: [['n9.a:0', 1]], siblings: [{ dot: { actor: 'n9.a:0', counter: 1 }, value: Buffer.from('["x"]'), contentType: 'application/json', deleted: false, lastModifiedMs: 0 }] };
    await hints.add('gone', 7, 'k', object, clock.now());
    await hints.add('dead', 7, 'k2', object, clock.now());
    const handoff = new HintedHandoff(hints, transport, clock, (id) => status[id] === 'alive' && !down.has(id), undefined, {
      gone: (id) => status[id] === 'left',
      primaries: (partition) => (partition === 7 ? ['n1', 'n2', 'n3'] : []),
    });
    handoff.round();
    await macrotask();
    // n2, a current primary, is down: the hint stays, to be tried again.
    expect(hints.stats().byTarget).toEqual({ gone: 1, dead: 1 });
    down.clear();
    handoff.round();
    await macrotask();
    // Delivered to every current primary as a plain replica (no hint), then dropped; the dead node's hint waits for it.
    expect(hints.stats().byTarget).toEqual({ dead: 1 });
    const delivered = sent.filter((s) => s.message.type === 'replicate' && s.message.key === 'k');
    expect(delivered.map((s) => s.to)).toEqual(['n1', 'n1', 'n2', 'n3']);
    for (const s of delivered) {
      expect(s.message).toMatchObject({ type: 'replicate', partition: 7, key: 'k' });
      expect((s.message as { hint?: string }).hint).toBeUndefined();
    }
    expect(sent.some((s) => s.to === 'dead' || (s.message.type === 'replicate' && s.message.key === 'k2'))).toBe(false);
    handoff.stop();
  });

  /**
   * A replica write that reaches a node which does not hold the key's
   * partition under its own ring (a coordinator or hint holder with an older
   * ring sent it) was stored there only: dropped with the partition, or never
   * read again; with w = 1 it could be the write's only acknowledged copy.
   * It is now also hinted to the partition's primaries before the ack.
   */
  it('a replica write for a partition the receiver does not hold reaches the primaries through hints', async () => {
    const { scheduler, cluster } = await settledCluster(33);
    const key = 'cart:stray';
    const { partition, primaries } = cluster.node('n1')!.preflist(key);
    const outsider = cluster.ids.find((id) => !primaries.includes(id))!;
    const object: VersionedObject = { vv: [['n9.a:0', 1]], siblings: [{ dot: { actor: 'n9.a:0', counter: 1 }, value: Buffer.from('["stray"]'), contentType: 'application/json', deleted: false, lastModifiedMs: 0 }] };
    const reply = await scheduler.drive(
      cluster.call(outsider, 'stray replicate', 5000, (kv) => kv.handlePeer({ type: 'replicate', partition, key, object: packObject(object) })),
      10_000,
    );
    expect(reply).toEqual({ type: 'ack' });
    const hints = cluster.node(outsider)!.status().hints;
    expect(hints.strays).toBe(1);
    expect(Object.keys(hints.byTarget).sort()).toEqual([...primaries].sort());
    // A primary receiving the same write holds it: no hint there.
    const primary = primaries[0]!;
    await scheduler.drive(cluster.call(primary, 'replicate', 5000, (kv) => kv.handlePeer({ type: 'replicate', partition, key, object: packObject(object) })), 10_000);
    expect(cluster.node(primary)!.status().hints.strays).toBe(0);
    expect(await scheduler.runUntil(() => cluster.node(outsider)!.status().hints.pending === 0, scheduler.nowMs + 10_000)).toBe(true);
    for (const id of primaries) expect([...itemsOf(cluster.node(id)!.replica.read(partition, key))]).toEqual(['stray']);
  });

  /**
   * Found by the `leftWithHints` checker (`--changes --w 1 --r 1`, 59 of 300
   * seeds): a leaver stopped while holding hints, and with w = 1 a hint can
   * be a write's only acknowledged copy. A leaver now hands the hints it
   * cannot deliver to a live member, and takes no new writes once it owns
   * nothing, before it declares itself left.
   */
  it('a leaving node hands its hints for a down node to a live member before it goes', async () => {
    const { scheduler, cluster } = await settledCluster(34);
    const [leaver, down] = ['n3', 'n5'];
    const key = 'cart:hinted';
    const { partition } = cluster.node('n1')!.preflist(key);
    const object: VersionedObject = { vv: [['n9.a:0', 1]], siblings: [{ dot: { actor: 'n9.a:0', counter: 1 }, value: Buffer.from('["hinted"]'), contentType: 'application/json', deleted: false, lastModifiedMs: 0 }] };
    cluster.kill(down);
    await scheduler.runFor(10_000); // seen dead by everyone
    await cluster.node(leaver)!.hints.add(down, partition, key, object, cluster.host(leaver).clock!.now());
    cluster.leave(leaver);
    expect(await scheduler.runUntil(() => cluster.host(leaver).left, scheduler.nowMs + 120_000)).toBe(true);
    expect(cluster.leftWithHints).toEqual([]);
    const holders = cluster.ids.filter((id) => (cluster.node(id)?.status().hints.byTarget[down] ?? 0) > 0);
    expect(holders).toHaveLength(1);
    await cluster.restart(down);
    expect(await scheduler.runUntil(() => itemsOf(cluster.node(down)!.replica.read(partition, key)).has('hinted'), scheduler.nowMs + 60_000)).toBe(true);
  });

  /**
   * A coordinator whose ring differs from a replica's may ask a node that no
   * longer holds (or does not yet know it holds) the partition. Its answer,
   * often "no copy", counted toward r, could hide an acknowledged write from
   * a read that should see it (r + w > n). It now refuses, and counts as one
   * replica fewer.
   */
  it('a replica asked to read a partition it does not hold refuses instead of answering "no copy"', async () => {
    const { scheduler, cluster } = await settledCluster(35);
    const key = 'cart:read-stray';
    const { partition, primaries } = cluster.node('n1')!.preflist(key);
    const outsider = cluster.ids.find((id) => !primaries.includes(id))!;
    const read = (id: string) => scheduler.drive(cluster.call(id, `read at ${id}`, 5000, (kv) => kv.handlePeer({ type: 'read', partition, key })), 10_000);
    expect(await read(outsider)).toMatchObject({ type: 'error', code: 'not_holder' });
    expect(await read(primaries[0]!)).toEqual({ type: 'object', packed: null });
    // A fallback asked for its hints still answers.
    expect(await scheduler.drive(cluster.call(outsider, 'hinted read', 5000, (kv) => kv.handlePeer({ type: 'read', partition, key, hints: true })), 10_000)).toEqual({ type: 'object', packed: null });
  });

  it('force-remove: a node dead for good is removed on its behalf; its partitions move, streamed from survivors, and nothing is lost', async () => {
    const { scheduler, cluster } = await settledCluster(36);
    const gone = 'n5';
    const keys = Array.from({ length: 30 }, (_, i) => `cart:rm${i}`);
    for (const key of keys) {
      const put = cluster.call('n1', `put ${key}`, 5000, (kv) => kv.put(key, { value: Buffer.from(JSON.stringify([key])), contentType: 'application/json', context: [] }, { w: 3, pw: 3, timeoutMs: 2000 }));
      await scheduler.drive(put, 10_000);
    }
    cluster.kill(gone);
    const seenDead = () => cluster.ids.filter((id) => id !== gone).every((id) => cluster.node(id)!.membership.get(gone)?.status === 'dead');
    expect(await scheduler.runUntil(seenDead, scheduler.nowMs + 60_000)).toBe(true);
    expect(() => cluster.node('n2')!.remove('n1')).toThrow(/only a dead member/);
    expect(cluster.node('n2')!.remove(gone)).toEqual({ id: gone, status: 'left' });
    const settledWithout = () =>
      cluster.ids.filter((id) => id !== gone).every((id) => {
        const ring = cluster.node(id)!.rings.current!;
        return !ring.owners.includes(gone) && (ring.pending ?? []).length === 0;
      });
    expect(await scheduler.runUntil(settledWithout, scheduler.nowMs + 120_000)).toBe(true);
    for (const key of keys) {
      const read = cluster.call('n1', `get ${key}`, 5000, (kv) => kv.get(key, { r: 3, pr: 3, timeoutMs: 2000, repairSync: true }));
      expect([...itemsOf(await scheduler.drive(read, 10_000))]).toEqual([key]);
    }
  });

  it.each([252, 450, 543, 210026])('ring-change seed %i, once failed, passes', async (seed) => {
    // 252 and 450 failed once stray writes were hinted on (the runs take other paths):
    // 252: hints for a node that left but was seen as dead stayed for the whole hint window;
    // 450: forked rings of one version (see membership-ring.test.ts) blocked ring changes for good.
    // 543: a joiner asked to leave before its claim reached it left; its transfers blocked ring
    // changes for good (see transfer-plan.test.ts).
    // 210026: a leaver's write, answered, still had a replica slot failing over in the background;
    // it kept a hint after the leaver had declared left (the leaver now waits for those slots).
    passed(await runSimulation({ seed, changes: 'mixed' }));
  });

  /**
   * Found by `npm run sim -- --changes --seeds 300` (seed 232, default
   * r = w = 2: "lost 2 acknowledged adds", "dot n5.…:5:2 of cart:3 names two
   * writes"; also `--changes --w 1 --r 1` seeds 8 and 34). A node with a stale
   * ring forwards a write to a node it believes is a primary; the receiver,
   * no longer a primary nor a handoff source under its own ring (here: a
   * leaving node after its claim), still coordinates it (coordinateForwarded
   * never forwards again) and mints the dot from the epoch of its stale local
   * copy, but it is not one of the write's replica slots, so it does not keep
   * what it minted. The next such write mints the same dot for another
   * value: replicas keep one of the two (same dot = same write), and an
   * acknowledged write is silently lost. Fixed in coordinator.ts: a
   * coordinator that is not a primary of the key
   * mints with a fresh epoch.
   */
  it('two blind writes forwarded to a node that is no longer a replica both survive', async () => {
    const { scheduler, cluster } = await settledCluster(32);
    const key = 'cart:stale';
    const { partition, primaries } = cluster.node('n1')!.preflist(key);
    const outsider = cluster.ids.find((id) => !primaries.includes(id))!;
    const outsiderNode = cluster.node(outsider)!;
    const forwarded = (item: string) =>
      cluster.call(outsider, `forwarded ${item}`, 10_000, async (kv) => {
        const reply = await kv.handlePeer({
          type: 'coordinate',
          request: { op: 'put', key, value: Buffer.from(JSON.stringify([item])), contentType: 'application/json', context: [], w: 2, pw: 0, timeoutMs: 1000 },
        });
        if (reply.type !== 'coordinated' || reply.object === null) throw new Error(`not coordinated: ${JSON.stringify(reply)}`);
        return fromWire(reply.object);
      });
    // A first forwarded write, whose result then reaches the outsider as a
    // stale-ring replicate would: it now holds a copy carrying its own dot.
    const first = await scheduler.drive(forwarded('first'), 20_000);
    await outsiderNode.replica.apply(partition, key, first);
    await scheduler.drive(forwarded('second'), 20_000);
    await scheduler.drive(forwarded('third'), 20_000);
    await scheduler.runFor(2000);
    const read = cluster.call(primaries[0]!, 'final', 5000, (kv) => kv.get(key, { r: 3, pr: 3, timeoutMs: 1000, repairSync: true }));
    const items = itemsOf(await scheduler.drive(read, 10_000));
    expect([...items].sort()).toEqual(['first', 'second', 'third']);
  });
});
