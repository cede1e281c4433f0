import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { createHasher } from '../../src/adapters/xxhash.js';
import { DynakvError } from '../../src/core/errors.js';
import { KvNode } from '../../src/core/kv-node.js';
import { claimantOf, pendingClaims } from '../../src/core/membership/claimant.js';
import { mergeForks, preferRing, ringDigest, RingState, stampAhead } from '../../src/core/membership/ring-state.js';
import type { MemberInfo, MemberStatus, NodeId } from '../../src/core/messages.js';
import { claimJoin, createRing, withPending, type Ring } from '../../src/core/ring/ring.js';
import type { Hasher } from '../../src/ports/hasher.js';
import { GossipNet } from './support/gossip-net.js';

/**
 * The ring as gossiped state, and KvNode's membership wiring (bootstrap,
 * readiness, joining, availability) on virtual time.
 */

interface Disk {
  store: MemoryStore;
  ring?: Ring;
  incarnation: number;
  members: MemberInfo[];
}

class KvCluster {
  readonly nodes = new Map<NodeId, KvNode>();
  readonly disks = new Map<NodeId, Disk>();
  constructor(
    readonly net: GossipNet,
    private readonly hasher: Hasher,
  ) {}

  static async create(seed: number): Promise<KvCluster> {
    return new KvCluster(new GossipNet(seed), await createHasher());
  }

  /** Starts (or restarts) `id` as src/node/node.ts does: incarnation from disk + 1, persisted ring and members. */
  start(id: NodeId, seeds: readonly NodeId[]): KvNode {
    let disk = this.disks.get(id);
    if (disk === undefined) {
      disk = { store: new MemoryStore(), incarnation: 0, members: [] };
      this.disks.set(id, disk);
    }
    disk.incarnation++;
    const d = disk;
    const { clock, transport, peer } = this.net.host(id);
    const node = new KvNode(
      {
        id,
        actor: `${id}.test`,
        api: `${id}:api`,
        peer,
        zone: undefined,
        seeds: seeds.map((s) => `${s}:peer`),
        replicas: 3,
        partitions: 64,
        siblingsMax: 100,
        valueBytesMax: 1 << 20,
        incarnation: d.incarnation,
        antiEntropy: false,
        knownMembers: d.members,
        ...(d.ring === undefined ? {} : { knownRing: d.ring }),
      },
      {
        store: d.store,
        transport,
        clock,
        random: this.net.random.fork(`kv-${id}-${this.net.nowMs}`),
        hasher: this.hasher,
        persistMembers: (m) => (d.members = m),
        persistRing: (ring) => (d.ring = ring),
        persistIncarnation: (n) => (d.incarnation = n),
      },
    );
    this.nodes.set(id, node);
    this.net.attach(id, (m) => node.handlePeer(m));
    node.start();
    return node;
  }

  kill(id: NodeId): void {
    this.nodes.get(id)?.stop();
    this.net.kill(id);
  }

  node(id: NodeId): KvNode {
    return this.nodes.get(id)!;
  }

  statusOn(viewer: NodeId, of: NodeId): MemberStatus | undefined {
    return this.node(viewer).members().find((m) => m.id === of)?.status;
  }

  everyoneSees(viewers: readonly NodeId[], of: NodeId, ok: (s: MemberStatus | undefined) => boolean): boolean {
    return viewers.every((v) => ok(this.statusOn(v, of)));
  }
}

const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
const put = (node: KvNode, key: string) => node.put(key, { value: new TextEncoder().encode('v'), contentType: 'text/plain', context: [] }, { w: 1, pw: 0, timeoutMs: 1000 });

describe('ring stamps and preference', () => {
  it('a higher version is ahead; another ring of the same version is ahead too; none is never ahead', () => {
    expect(stampAhead({ version: 2, digest: 'a' }, { version: 1, digest: 'b' })).toBe(true);
    expect(stampAhead({ version: 1, digest: 'a' }, { version: 2, digest: 'b' })).toBe(false);
    expect(stampAhead({ version: 1, digest: 'a' }, { version: 1, digest: 'b' })).toBe(true);
    expect(stampAhead({ version: 1, digest: 'a' }, { version: 1, digest: 'a' })).toBe(false);
    expect(stampAhead({ version: 0, digest: '' }, { version: 0, digest: '' })).toBe(false);
  });

  it('rival rings of one version are ordered the same way everywhere: more owners first, then digest', () => {
    const a = createRing(['n1', 'n2', 'n3'], 64, 3);
    const b = createRing(['n1', 'n2'], 64, 3);
    expect(preferRing(a, b)).toBe(true);
    expect(preferRing(b, a)).toBe(false);
    const c = createRing(['n1', 'n2', 'n4'], 64, 3);
    expect(preferRing(a, c)).toBe(!preferRing(c, a));
    expect(preferRing(claimJoin(b, 'n9'), a)).toBe(true); // a higher version wins whatever it holds
    expect(ringDigest(a)).toBe(ringDigest(createRing(['n3', 'n2', 'n1'], 64, 3)));
    expect(ringDigest(a)).toMatch(/^[0-9a-f]{16}$/);
  });

  /**
   * Found by `npm run sim -- --changes --seeds 600` (seed 450): two claimants,
   * one each side of a partition, each cleared a different verified transfer
   * at the same version. The leaver saw its own transfer cleared and left;
   * the tie-break then chose the other fork, which still listed it, and no
   * ring change could ever be made again. Forks of one claim now merge.
   */
  it('forks of one claim merge: transfers cleared in either fork stay cleared, the same way on every node', () => {
    const claimed = claimJoin(createRing(['n1', 'n2', 'n3'], 16, 3), 'n4');
    const pending = [
      { partition: 1, from: 'n1', to: 'n4' },
      { partition: 2, from: 'n2', to: 'n4' },
      { partition: 3, from: 'n3', to: 'n4' },
    ];
    const v = claimed.version + 1;
    const a = withPending(claimed, [pending[1]!, pending[2]!], v); // cleared 1
    const b = withPending(claimed, [pending[0]!, pending[2]!], v); // cleared 2
    const ab = mergeForks(a, b)!;
    expect(ab.version).toBe(v);
    expect(ab.pending).toEqual([pending[2]]);
    expect(ringDigest(ab)).toBe(ringDigest(mergeForks(b, a)!));
    expect(mergeForks(ab, a)).toBe(ab); // nothing new: kept as it is
    expect(mergeForks(a, claimJoin(createRing(['n1', 'n2', 'n3'], 16, 3), 'n5'))).toBeUndefined(); // other owners: not forks

    const adopted: Ring[] = [];
    const state = new RingState(
      { self: 'n1', partitions: 16, replicas: 3, transport: { request: () => Promise.reject(new Error('unused')) }, fetchTimeoutMs: 1, persist: () => undefined, onChange: (r) => adopted.push(r) },
      a,
    );
    expect(state.offer(b)).toBe(true);
    expect(state.current!.pending).toEqual([pending[2]]);
    expect(state.offer(a)).toBe(false);
    expect(state.offer(b)).toBe(false);
    expect(adopted).toHaveLength(1);
  });

  it('the claimant is the lowest-id alive ring owner; pending claims list joiners and leavers', () => {
    const ring = createRing(['n1', 'n2', 'n3'], 64, 3);
    const status: Record<string, MemberStatus> = { n1: 'dead', n2: 'alive', n3: 'alive' };
    expect(claimantOf(ring, (id) => status[id])).toBe('n2');
    const members = (['n1', 'n2', 'n3', 'n6'] as const).map((id) => ({ id, api: '', peer: '', status: id === 'n6' ? 'joining' : id === 'n3' ? 'leaving' : 'alive', incarnation: 1, zone: undefined }) as MemberInfo);
    expect(pendingClaims(ring, members)).toEqual({ joining: ['n6'], leaving: ['n3'] });
  });
});

describe('KvNode membership: bootstrap, ring state, availability', () => {
  it('nodes started together with the same seeds agree on ring version 1 of all of them, then all are alive', async () => {
    const c = await KvCluster.create(31);
    for (const id of five) c.start(id, five);
    const agreed = (): boolean => five.every((id) => c.node(id).ready() && c.node(id).ring().owners.join() === c.node('n1').ring().owners.join());
    expect(await c.net.runUntil(agreed, 10_000)).toBe(true);
    expect(c.node('n3').ring().version).toBe(1);
    expect(new Set(c.node('n3').ring().owners)).toEqual(new Set(five));
    expect(await c.net.runUntil(() => five.every((v) => five.every((id) => c.statusOn(v, id) === 'alive')), 10_000)).toBe(true);
    // Becoming an owner raised each node's incarnation (joining → alive) and persisted it.
    for (const id of five) expect(c.disks.get(id)!.incarnation).toBe(c.node(id).membership.self().incarnation);
    expect(c.disks.get('n2')!.ring?.version).toBe(1);
  });

  it('a node waits for every seed before making the first ring, and refuses requests until it has one', async () => {
    const c = await KvCluster.create(32);
    const n1 = c.start('n1', ['n1', 'n2']);
    await c.net.runFor(10_000);
    expect(n1.ready()).toBe(false);
    expect(n1.ring().version).toBe(0);
    expect(n1.status().membership.seedsPending).toEqual(['n2:peer']);
    const refused = await put(n1, 'k').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DynakvError);
    expect((refused as DynakvError).code).toBe('overloaded');
    c.start('n2', ['n1', 'n2']);
    expect(await c.net.runUntil(() => n1.ready() && c.node('n2').ready(), 5_000)).toBe(true);
    expect(n1.ring().owners).toEqual(c.node('n2').ring().owners);
    expect(new Set(n1.ring().owners)).toEqual(new Set(['n1', 'n2']));
  });

  it('a node added later adopts the ring as a joining member; the claimant then claims partitions for it; alive on every node', async () => {
    const c = await KvCluster.create(33);
    for (const id of five) c.start(id, five);
    await c.net.runUntil(() => five.every((id) => c.node(id).ready()), 10_000);
    const n6 = c.start('n6', five);
    expect(await c.net.runUntil(() => n6.ready(), 5_000)).toBe(true);
    const all = [...five, 'n6'];
    // The claimant (n1) makes ring version 2 with n6 as an owner (its replicas pending handoff); n6 turns alive.
    expect(await c.net.runUntil(() => all.every((id) => c.node(id).ring().owners.includes('n6')), 10_000)).toBe(true);
    expect(c.node('n1').ring().version).toBeGreaterThanOrEqual(2);
    expect(await c.net.runUntil(() => all.every((id) => c.everyoneSees(all, id, (s) => s === 'alive')), 10_000)).toBe(true);
    // A joining node coordinates requests (forwarding them to the preference list).
    await expect(c.net.scheduler.drive(put(n6, 'cart:1'), 5_000)).resolves.toBeDefined();
    expect(n6.status().membership.claimant).toBe('n1');
  });

  it('a restarted node uses its persisted ring at once; a killed node is unavailable to coordinators, then alive again', async () => {
    const c = await KvCluster.create(34);
    for (const id of five) c.start(id, five);
    await c.net.runUntil(() => five.every((v) => five.every((id) => c.statusOn(v, id) === 'alive')), 20_000);
    const isAvailable = (viewer: NodeId, id: NodeId): boolean => (c.node(viewer) as unknown as { isAvailable(id: NodeId): boolean }).isAvailable(id);
    expect(isAvailable('n1', 'n4')).toBe(true);
    c.kill('n4');
    const others = five.filter((id) => id !== 'n4');
    expect(await c.net.runUntil(() => c.everyoneSees(others, 'n4', (s) => s === 'dead'), 60_000)).toBe(true);
    expect(others.every((id) => !isAvailable(id, 'n4'))).toBe(true);
    // The dead node still owns its partitions: the ring does not follow liveness.
    expect(c.node('n1').ring().owners).toContain('n4');
    expect(c.node('n1').ring().version).toBe(1);
    const incarnationBefore = c.node('n1').members().find((m) => m.id === 'n4')!.incarnation;
    const n4 = c.start('n4', five);
    expect(n4.ready()).toBe(true); // persisted ring, before any message
    expect(await c.net.runUntil(() => c.everyoneSees(five, 'n4', (s) => s === 'alive'), 10_000)).toBe(true);
    expect(c.node('n2').members().find((m) => m.id === 'n4')!.incarnation).toBeGreaterThan(incarnationBefore);
    expect(c.node('n2').status().membership).toMatchObject({ status: 'alive' });
    expect(c.node('n2').status().membership.deadEvents).toBeGreaterThanOrEqual(1);
  });

  it('a newer ring version spreads by gossip; a joiner that becomes an owner turns alive; the ring settles once transfers finish', async () => {
    const c = await KvCluster.create(35);
    for (const id of five) c.start(id, five);
    await c.net.runUntil(() => five.every((id) => c.node(id).ready()), 10_000);
    const n6 = c.start('n6', five);
    await c.net.runUntil(() => n6.ready(), 5_000);
    // The claimant claims for n6 (claimJoin, version 2, replicas pending); the handoffs (empty partitions) clear in later versions.
    const next = claimJoin(createRing(five, c.node('n1').ring().partitions, c.node('n1').ring().replicas), 'n6');
    const all = [...five, 'n6'];
    const settled = (id: NodeId): boolean => c.node(id).ring().owners.join() === next.owners.join() && c.node(id).rings.current!.pending === undefined;
    expect(await c.net.runUntil(() => all.every(settled) && new Set(all.map((id) => c.node(id).ring().version)).size === 1, 20_000)).toBe(true);
    expect(c.node('n1').ring().version).toBeGreaterThanOrEqual(3);
    expect(await c.net.runUntil(() => c.everyoneSees(all, 'n6', (s) => s === 'alive'), 10_000)).toBe(true);
    expect(c.disks.get('n4')!.ring?.version).toBe(c.node('n1').ring().version);
  });

  it('a wiped node rejoins from its seeds: adopts the ring, refutes its old death, is alive everywhere', async () => {
    const c = await KvCluster.create(36);
    for (const id of five) c.start(id, five);
    await c.net.runUntil(() => five.every((v) => five.every((id) => c.statusOn(v, id) === 'alive')), 20_000);
    c.kill('n5');
    const others = five.filter((id) => id !== 'n5');
    await c.net.runUntil(() => c.everyoneSees(others, 'n5', (s) => s === 'dead'), 60_000);
    c.disks.delete('n5'); // wipe: incarnation starts over at 1, no ring, no members
    const n5 = c.start('n5', five);
    expect(n5.ready()).toBe(false);
    expect(await c.net.runUntil(() => n5.ready() && c.everyoneSees(five, 'n5', (s) => s === 'alive'), 20_000)).toBe(true);
    expect(n5.ring()).toEqual(c.node('n1').ring());
    expect(n5.membership.counters.refutations).toBeGreaterThan(0);
  });
});
