import { describe, expect, it } from 'vitest';
import type { Membership, MembershipEvent } from '../../src/core/membership/membership.js';
import type { MemberStatus, NodeId } from '../../src/core/messages.js';
import { aliveMembers, GossipNet, gossipHandler, startGossipNode } from './support/gossip-net.js';

/**
 * SWIM + Lifeguard on virtual time: bare Membership instances on the tiny
 * virtual network (test/unit/support/gossip-net.ts). No sleeps; every wait
 * is a bounded amount of virtual time.
 */

function cluster(net: GossipNet, ids: readonly NodeId[], onEvent?: (who: NodeId, e: MembershipEvent) => void): Map<NodeId, Membership> {
  const nodes = new Map<NodeId, Membership>();
  for (const id of ids) {
    nodes.set(id, startGossipNode(net, id, { known: aliveMembers(ids), ...(onEvent === undefined ? {} : { onEvent: (e) => onEvent(id, e) }) }));
  }
  return nodes;
}

const statusOn = (nodes: Map<NodeId, Membership>, viewer: NodeId, of: NodeId): MemberStatus | undefined => nodes.get(viewer)!.get(of)?.status;

function everyoneSees(nodes: Map<NodeId, Membership>, viewers: readonly NodeId[], of: NodeId, ok: (s: MemberStatus | undefined) => boolean): boolean {
  return viewers.every((v) => ok(statusOn(nodes, v, of)));
}

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('SWIM failure detection on virtual time', () => {
  it('probe/ack: a healthy cluster probes every member and never suspects anyone', async () => {
    const net = new GossipNet(11);
    const members = ids(5);
    const nodes = cluster(net, members);
    await net.runFor(30_000);
    for (const node of nodes.values()) {
      expect(node.counters.probes).toBeGreaterThanOrEqual(28);
      expect(node.counters.probesAcked).toBe(node.counters.probes);
      expect(node.counters.suspectEvents).toBe(0);
      expect(node.members().every((m) => m.status === 'alive')).toBe(true);
    }
    // Shuffled round-robin: each member is probed within one round (4 periods) by each prober.
    expect(net.sent.get('ping')).toBeGreaterThanOrEqual(5 * 28);
    expect(net.sent.get('ping-req') ?? 0).toBe(0);
  });

  it('an indirect probe saves a member behind a lossy link', async () => {
    const net = new GossipNet(12);
    const members = ids(5);
    const nodes = cluster(net, members);
    // n1 and n2 cannot talk directly at all; every other path is fine.
    net.setLoss('n1', 'n2', 1);
    net.setLoss('n2', 'n1', 1);
    await net.runFor(60_000);
    const n1 = nodes.get('n1')!;
    expect(n1.counters.probesIndirectAcked).toBeGreaterThan(0);
    expect(net.sent.get('ping-req')).toBeGreaterThan(0);
    for (const id of members) expect(nodes.get(id)!.counters.suspectEvents).toBe(0);
    expect(statusOn(nodes, 'n1', 'n2')).toBe('alive');
    expect(statusOn(nodes, 'n2', 'n1')).toBe('alive');
  });

  it('without the indirect path the same link gets the member suspected (control)', async () => {
    const net = new GossipNet(12);
    const members = ids(5);
    const nodes = cluster(net, members);
    net.setLoss('n1', 'n2', 1);
    net.setLoss('n2', 'n1', 1);
    for (const relay of ['n3', 'n4', 'n5']) net.setLoss(relay, 'n2', 1);
    const suspected = await net.runUntil(() => statusOn(nodes, 'n1', 'n2') !== 'alive', 30_000);
    expect(suspected).toBe(true);
  });

  it('suspicion → dead: a killed member is suspected, then declared dead everywhere; it is kept in the list', async () => {
    const net = new GossipNet(13);
    const members = ids(5);
    const firstSuspect = new Map<NodeId, number>();
    const nodes = cluster(net, members, (who, e) => {
      if (e.kind === 'suspect' && e.id === 'n4' && !firstSuspect.has(who)) firstSuspect.set(who, net.nowMs);
    });
    await net.runFor(5_000);
    const killedAt = net.nowMs;
    net.kill('n4');
    const others = members.filter((id) => id !== 'n4');
    expect(await net.runUntil(() => everyoneSees(nodes, others, 'n4', (s) => s === 'dead'), 60_000)).toBe(true);
    const detectMs = net.nowMs - killedAt;
    // Lifeguard: with k = 2 confirmations the timeout drops to its minimum, 4 s for 5 members.
    expect(detectMs).toBeLessThan(20_000);
    expect(firstSuspect.size).toBe(4);
    for (const id of others) expect(nodes.get(id)!.members().map((m) => m.id)).toContain('n4');
    // Dead members are no longer probed.
    const pings = net.sent.get('ping')!;
    await net.runFor(10_000);
    const pingsToDead = (net.sent.get('ping')! - pings) / 4;
    expect(pingsToDead).toBeLessThanOrEqual(11);
    console.log(`[gossip unit] 5 members: killed member dead everywhere after ${detectMs} ms of virtual time`);
  });

  it('refutation: a paused member is suspected, refutes with a higher incarnation on resume, and persists it', async () => {
    const net = new GossipNet(14);
    const members = ids(5);
    const nodes = cluster(net, members);
    const persisted: number[] = [];
    // Restart n5 with an incarnation callback (and a known incarnation of 1).
    net.kill('n5');
    nodes.set('n5', startGossipNode(net, 'n5', { known: aliveMembers(members), onIncarnation: (n) => persisted.push(n) }));
    await net.runFor(5_000);
    net.pause('n5');
    const others = members.filter((id) => id !== 'n5');
    expect(await net.runUntil(() => everyoneSees(nodes, others, 'n5', (s) => s === 'suspect' || s === 'dead'), 30_000)).toBe(true);
    net.resume('n5');
    expect(await net.runUntil(() => everyoneSees(nodes, others, 'n5', (s) => s === 'alive'), 30_000)).toBe(true);
    const n5 = nodes.get('n5')!;
    expect(n5.self().incarnation).toBeGreaterThan(1);
    expect(n5.counters.refutations).toBeGreaterThan(0);
    expect(persisted.at(-1)).toBe(n5.self().incarnation);
    for (const id of others) expect(nodes.get(id)!.get('n5')!.incarnation).toBe(n5.self().incarnation);
  });

  it('a suspect that answers a probe refutes at once (the ack carries our suspicion back to it)', async () => {
    const net = new GossipNet(15);
    const members = ids(4);
    const nodes = cluster(net, members);
    await net.runFor(2_000);
    // n1 suspects n2 from a probe that failed (one transient loss), then n2 is fine again.
    net.setLoss('n1', 'n2', 1);
    net.setLoss('n3', 'n2', 1);
    net.setLoss('n4', 'n2', 1);
    await net.runUntil(() => statusOn(nodes, 'n1', 'n2') === 'suspect', 20_000);
    expect(statusOn(nodes, 'n1', 'n2')).toBe('suspect');
    net.partition(['n1', 'n3', 'n4'], ['n2'], 0);
    expect(await net.runUntil(() => everyoneSees(nodes, members, 'n2', (s) => s === 'alive'), 10_000)).toBe(true);
    expect(nodes.get('n2')!.self().incarnation).toBe(2);
  });

  it('a dead member that restarts comes back alive with a higher incarnation', async () => {
    const net = new GossipNet(16);
    const members = ids(5);
    const nodes = cluster(net, members);
    await net.runFor(3_000);
    net.kill('n3');
    const others = members.filter((id) => id !== 'n3');
    expect(await net.runUntil(() => everyoneSees(nodes, others, 'n3', (s) => s === 'dead'), 60_000)).toBe(true);
    // Restart as a real node does: incarnation from disk + 1, seeds = everyone.
    nodes.set('n3', startGossipNode(net, 'n3', { known: aliveMembers(members), incarnation: 2, seeds: members.map((id) => `${id}:peer`) }));
    expect(await net.runUntil(() => everyoneSees(nodes, members, 'n3', (s) => s === 'alive'), 10_000)).toBe(true);
    for (const id of members) expect(nodes.get(id)!.get('n3')!.incarnation).toBeGreaterThanOrEqual(2);
  });

  it('push-pull heals a partition: both sides declared each other dead, and are all alive again after heal', async () => {
    const net = new GossipNet(17);
    const members = ids(6);
    const nodes = cluster(net, members);
    const left = ['n1', 'n2', 'n3'];
    const right = ['n4', 'n5', 'n6'];
    await net.runFor(3_000);
    net.partition(left, right);
    const split = (): boolean => left.every((a) => right.every((b) => statusOn(nodes, a, b) === 'dead' && statusOn(nodes, b, a) === 'dead'));
    expect(await net.runUntil(split, 120_000)).toBe(true);
    // Gossip alone cannot heal it: nobody probes dead members. Push-pull picks dead members too.
    const pushPulls = net.sent.get('push-pull')!;
    net.partition(left, right, 0);
    const healedAt = net.nowMs;
    const healed = (): boolean => members.every((a) => members.every((b) => statusOn(nodes, a, b) === 'alive'));
    expect(await net.runUntil(healed, 180_000)).toBe(true);
    expect(net.sent.get('push-pull')!).toBeGreaterThan(pushPulls);
    console.log(`[gossip unit] 3|3 partition healed ${net.nowMs - healedAt} ms after the links came back`);
  });

  it('bootstrap: nodes that know only a seed learn every member', async () => {
    const net = new GossipNet(18);
    const members = ids(6);
    const nodes = new Map<NodeId, Membership>();
    for (const id of members) nodes.set(id, startGossipNode(net, id, { seeds: ['n1:peer'] }));
    const everyone = (): boolean => members.every((a) => members.every((b) => statusOn(nodes, a, b) === 'alive'));
    expect(await net.runUntil(everyone, 30_000)).toBe(true);
    expect(members.every((id) => nodes.get(id)!.seedsContacted())).toBe(true);
  });

  it('piggyback stays within its bounds per message, and every update still spreads', async () => {
    const net = new GossipNet(19);
    const members = ids(40);
    const config = { gossipUpdatesPerMessageMax: 4 };
    const nodes = new Map<NodeId, Membership>();
    for (const id of members) nodes.set(id, startGossipNode(net, id, { known: aliveMembers(members), config }));
    let largest = 0;
    const handler = gossipHandler(nodes.get('n1')!);
    // Many changes at once: 20 members restart with a higher incarnation.
    for (const id of members.slice(20)) {
      net.kill(id);
      nodes.set(id, startGossipNode(net, id, { known: aliveMembers(members), incarnation: 2, config }));
    }
    net.attach('n1', async (m) => {
      const gossip = (m as { gossip?: unknown[] }).gossip;
      if (Array.isArray(gossip)) largest = Math.max(largest, gossip.length);
      return handler(m);
    });
    const spread = (): boolean => members.slice(20).every((id) => members.every((viewer) => nodes.get(viewer)!.get(id)!.incarnation === 2));
    expect(await net.runUntil(spread, 60_000)).toBe(true);
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(4);
  });
});

describe('gossip messages are validated', () => {
  it('malformed ping, ping-req and push-pull messages get error replies, never a throw', async () => {
    const net = new GossipNet(20);
    const node = startGossipNode(net, 'n1');
    const handler = gossipHandler(node);
    const good = { id: 'x', api: 'x:api', peer: 'x:peer', status: 'alive', incarnation: 1, zone: null };
    const junk: unknown[] = [
      { type: 'ping' },
      { type: 'ping', from: good, target: 'n1', ring: { version: 0, digest: '' }, gossip: 'nope' },
      { type: 'ping', from: good, target: 'n1', ring: { version: -1, digest: '' }, gossip: [] },
      { type: 'ping', from: good, target: 'n1', ring: { version: 0, digest: '' }, gossip: [{ ...good, from: 7 }] },
      { type: 'ping', from: { ...good, status: 'zombie' }, target: 'n1', ring: { version: 0, digest: '' }, gossip: [] },
      { type: 'ping', from: good, target: 'n1', ring: { version: 0, digest: '' }, gossip: new Array(1000).fill({ ...good, from: 'x' }) },
      { type: 'ping-req', from: good, target: 'n2', timeoutMs: 0, ring: { version: 0, digest: '' }, gossip: [] },
      { type: 'push-pull', from: good, members: [{}], ring: { version: 0, digest: '' } },
      { type: 'push-pull', from: good, members: [], ring: null },
    ];
    for (const message of junk) {
      const reply = await handler(message);
      expect(reply.type, JSON.stringify(message).slice(0, 80)).toBe('error');
    }
    // An absurd incarnation about us is ignored, not refuted past what a restart can read back.
    const poison = { type: 'ping', from: good, target: 'n1', ring: { version: 0, digest: '' }, gossip: [{ ...node.self(), status: 'dead', incarnation: 2 ** 40, from: 'x' }] };
    expect((await handler(poison)).type).toBe('ping-ack');
    expect(node.self().incarnation).toBe(1);
    // A ping meant for someone else (a stale address) is refused.
    const wrong = await handler({ type: 'ping', from: good, target: 'n9', ring: { version: 0, digest: '' }, gossip: [] });
    expect(wrong).toMatchObject({ type: 'error', code: 'wrong_target' });
    expect(node.get('x')?.incarnation).toBe(1); // only the well-formed messages were applied
  });
});
