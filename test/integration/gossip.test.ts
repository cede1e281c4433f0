import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BUILT, startCluster, type TestCluster } from './helpers/cluster.js';

/**
 * Issue "gossip membership and failure detection", on real node processes
 * made with `dynakv cluster` (SIGKILL, SIGSTOP/SIGCONT, restart, add).
 * Waits poll with a bounded count of rounds; the only timing bounds are
 * generous ones, and the measured detection times are printed.
 */

interface Member {
  id: string;
  status: string;
  incarnation: number;
}

const POLL_MS = 100;

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await request(url, { method: 'GET', headersTimeout: 2_000, bodyTimeout: 2_000 });
    const text = await res.body.text();
    return res.statusCode === 200 ? (JSON.parse(text) as T) : undefined;
  } catch {
    return undefined;
  }
}

describe.runIf(NODE_BUILT)('gossip membership on a 5-node process cluster', () => {
  let c: TestCluster;
  const membersOn = (id: string): Promise<Member[] | undefined> => getJson<Member[]>(`${c.node(id).url}/v1/cluster/members`);
  const statusOf = async (viewer: string, of: string): Promise<string | undefined> => (await membersOn(viewer))?.find((m) => m.id === of)?.status;

  /** Polls until every viewer's view of `of` satisfies `ok`; returns the elapsed ms, or throws after `boundMs`. */
  async function waitViews(viewers: readonly string[], of: string, ok: (status: string | undefined) => boolean, boundMs: number, what: string): Promise<number> {
    const started = Date.now();
    const rounds = Math.ceil(boundMs / POLL_MS);
    for (let round = 0; round < rounds; round++) {
      const views = await Promise.all(viewers.map((v) => statusOf(v, of)));
      if (views.every(ok)) return Date.now() - started;
      if (Date.now() - started > boundMs) break;
      await sleep(POLL_MS);
    }
    const views = await Promise.all(viewers.map(async (v) => `${v}: ${await statusOf(v, of)}`));
    throw new Error(`${what}: not reached within ${boundMs} ms (${views.join(', ')})\n${c.logTail(of, 15)}`);
  }

  async function suspectEventsTotal(ids: readonly string[]): Promise<number> {
    let total = 0;
    for (const id of ids) {
      const status = await getJson<{ membership: { suspectEvents: number } }>(`${c.node(id).url}/v1/admin/status`);
      expect(status?.membership, `${id} has no membership section in /v1/admin/status`).toBeDefined();
      total += status!.membership.suspectEvents;
    }
    return total;
  }

  const all5 = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const others = (id: string): string[] => all5.filter((x) => x !== id);
  const live = (s: string | undefined): boolean => s === 'alive';

  beforeAll(async () => {
    c = await startCluster({ nodes: 5, flags: ['--sync', 'none'] });
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it('5 nodes up → every node lists 5 members, all alive, within 10 s', async () => {
    let ms = 0;
    for (const id of all5) ms = Math.max(ms, await waitViews(all5, id, live, 10_000, `${id} alive everywhere`));
    for (const id of all5) {
      const members = (await membersOn(id))!;
      expect(members.map((m) => m.id).sort()).toEqual(all5);
      expect(members.every((m) => m.incarnation >= 1)).toBe(true);
    }
    const ring = await getJson<{ version: number; owners: string[] }>(`${c.node('n3').url}/v1/cluster/ring`);
    // The ring n6 serves with names it once the claimant's join has spread (version ≥ 2), else the bootstrap ring.
    expect(ring?.version).toBeGreaterThanOrEqual(1);
    expect(ring!.version === 1 || ring!.owners.includes('n6')).toBe(true);
    expect(new Set(ring?.owners)).toEqual(new Set(all5));
    console.log(`[gossip it] all 5 alive on every node ${ms} ms after \`cluster up\` returned`);
  }, 30_000);

  it('an idle healthy cluster shows no false suspicion over ~10 s', async () => {
    const before = await suspectEventsTotal(all5);
    await sleep(10_000);
    const after = await suspectEventsTotal(all5);
    console.log(`[gossip it] suspect events on an idle cluster over 10 s: ${after - before} (total since start ${after})`);
    expect(after - before).toBe(0);
    for (const id of all5) await waitViews(all5, id, live, 1_000, `${id} still alive everywhere`);
  }, 30_000);

  it('kill n4 → every other node marks n4 not alive, then dead (detection time printed)', async () => {
    await c.cliOk(['cluster', 'kill', 'n4']);
    const killedAt = Date.now();
    await waitViews(others('n4'), 'n4', (s) => s === 'suspect' || s === 'dead', 30_000, 'n4 not alive');
    const notAliveMs = Date.now() - killedAt;
    await waitViews(others('n4'), 'n4', (s) => s === 'dead', 60_000, 'n4 dead');
    const deadMs = Date.now() - killedAt;
    console.log(`[gossip it] kill -9 n4: suspected on all 4 others after ${notAliveMs} ms, dead on all after ${deadMs} ms`);
    // Dead members are kept, and still own their partitions (that is what sloppy quorum is for).
    const ring = await getJson<{ owners: string[] }>(`${c.node('n1').url}/v1/cluster/ring`);
    expect(ring?.owners).toContain('n4');
  }, 90_000);

  it('start n4 → alive everywhere again, with a higher incarnation', async () => {
    const before = (await membersOn('n1'))!.find((m) => m.id === 'n4')!.incarnation;
    await c.cliOk(['cluster', 'start', 'n4']);
    const ms = await waitViews(all5, 'n4', live, 20_000, 'n4 alive again');
    const after = (await membersOn('n2'))!.find((m) => m.id === 'n4')!.incarnation;
    expect(after).toBeGreaterThan(before);
    console.log(`[gossip it] restarted n4 alive on every node ${ms} ms after \`cluster start\` returned (incarnation ${before} → ${after})`);
  }, 60_000);

  it('pause n5 (SIGSTOP) is detected, then declared dead; resume → it refutes and is alive everywhere', async () => {
    const before = (await membersOn('n1'))!.find((m) => m.id === 'n5')!.incarnation;
    await c.cliOk(['cluster', 'pause', 'n5']);
    const pausedAt = Date.now();
    try {
      await waitViews(others('n5'), 'n5', (s) => s === 'suspect' || s === 'dead', 30_000, 'paused n5 detected');
      const suspectedMs = Date.now() - pausedAt;
      await waitViews(others('n5'), 'n5', (s) => s === 'dead', 60_000, 'paused n5 dead');
      console.log(`[gossip it] SIGSTOP n5: suspected on all 4 others after ${suspectedMs} ms, dead on all after ${Date.now() - pausedAt} ms`);
    } finally {
      await c.cliOk(['cluster', 'resume', 'n5']);
    }
    const ms = await waitViews(all5, 'n5', live, 20_000, 'n5 alive after resume');
    const members = (await membersOn('n5'))!;
    const after = members.find((m) => m.id === 'n5')!.incarnation;
    expect(after).toBeGreaterThan(before); // refuted
    console.log(`[gossip it] resumed n5 refuted (incarnation ${before} → ${after}) and is alive on every node ${ms} ms after SIGCONT`);
  }, 120_000);

  it('`cluster add` → n6 is a live member on every node (joining until the claimant gives it partitions)', async () => {
    await c.cliOk(['cluster', 'add']);
    const all6 = [...all5, 'n6'];
    const ms = await waitViews(all6, 'n6', (s) => s === 'alive' || s === 'joining', 20_000, 'n6 live everywhere');
    for (const id of all6) await waitViews(all6, id, (s) => s === 'alive' || s === 'joining', 20_000, `${id} live on every node`);
    const statuses = await Promise.all(all6.map((v) => statusOf(v, 'n6')));
    const ring = await getJson<{ version: number; owners: string[] }>(`${c.node('n6').url}/v1/cluster/ring`);
    // The ring n6 serves with names it once the claimant's join has spread (version ≥ 2), else the bootstrap ring.
    expect(ring?.version).toBeGreaterThanOrEqual(1);
    expect(ring!.version === 1 || ring!.owners.includes('n6')).toBe(true);
    console.log(`[gossip it] cluster add: n6 live on all 6 nodes ${ms} ms after \`cluster add\` returned (as ${[...new Set(statuses)].join('/')}; ring v${ring?.version})`);
  }, 60_000);
});
