import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';

/**
 * Issue "Merkle-tree anti-entropy" on real node processes: with hinted handoff
 * off and no client reads (so no read repair), a replica that missed 2,000
 * writes — or lost its disk — converges through tree exchanges alone.
 * Prints the convergence times (goals: ≤ 120 s after a restart, ≤ 180 s after a wipe).
 */

const KEYS = 2000;
const WRITERS = 16;
const RESTART_GOAL_MS = 120_000;
const WIPE_GOAL_MS = 180_000;
const SAMPLES = 50;

interface AntiEntropyStatus {
  lastExchange: string | null;
  keysRepaired: number;
  bytesSent: number;
  exchanges: number;
  treesBuilt: number;
}
interface Status {
  storage: { keys: number };
  antiEntropy: AntiEntropyStatus;
}

async function call(url: string, method: 'GET' | 'PUT' = 'GET', body?: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { method, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function status(c: TestCluster, id: string): Promise<Status | undefined> {
  const res = await call(`${c.node(id).url}/v1/admin/status`).catch(() => undefined);
  return res?.status === 200 ? (JSON.parse(res.text) as Status) : undefined;
}

/** Polls (bounded in count and time) until n3 reports every key; returns the time taken. */
async function waitForKeys(c: TestCluster, id: string, keys: number, timeoutMs: number, since: number): Promise<number> {
  let last: Status | undefined;
  for (let i = 0; i < 2 * (timeoutMs / 1000) + 10 && Date.now() - since < timeoutMs; i++) {
    last = await status(c, id);
    if (last !== undefined && last.storage.keys >= keys) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${id} has ${last?.storage.keys ?? '?'} of ${keys} keys after ${timeoutMs} ms: ${JSON.stringify(last?.antiEntropy)}\n${c.logTail(id, 20)}`);
}

async function writeAll(c: TestCluster): Promise<void> {
  const targets = [c.node('n1').url, c.node('n2').url];
  let next = 0;
  const writer = async (): Promise<void> => {
    for (let i = next++; i < KEYS; i = next++) {
      const res = await call(`${targets[i % 2]}/v1/kv/ae:${i}?w=2`, 'PUT', `value-${i}`);
      if (res.status !== 204) throw new Error(`PUT ae:${i} → ${res.status} ${res.text}`);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
}

async function expectSampledLocalCopies(c: TestCluster, id: string): Promise<void> {
  for (let s = 0; s < SAMPLES; s++) {
    const i = (s * 7919) % KEYS;
    const res = await call(`${c.node(id).url}/v1/admin/local/ae:${i}`);
    expect(res.status, `local copy of ae:${i} on ${id}`).toBe(200);
    expect(res.text).toContain(Buffer.from(`value-${i}`).toString('base64'));
  }
}

describe('anti-entropy alone repairs a replica (3 nodes, hinted handoff off, no reads)', () => {
  let c: TestCluster;
  afterAll(async () => {
    await c?.stop();
  });

  it(`n3 killed during ${KEYS} writes at w=2, restarted: it gets every key back`, { timeout: 200_000 }, async () => {
    c = await startCluster({ nodes: 3, flags: ['--hinted-handoff', 'off'] });
    await c.cliOk(['cluster', 'kill', 'n3']);
    const writeStart = Date.now();
    await writeAll(c);
    console.log(`anti-entropy: ${KEYS} writes at w=2 with n3 down took ${Date.now() - writeStart} ms`);
    await c.cliOk(['cluster', 'start', 'n3']);
    const restarted = Date.now();
    expect((await status(c, 'n3'))!.storage.keys).toBeLessThan(KEYS);
    const ms = await waitForKeys(c, 'n3', KEYS, RESTART_GOAL_MS, restarted);
    console.log(`anti-entropy: restarted n3 reached all ${KEYS} keys ${ms} ms after its restart (goal ≤ ${RESTART_GOAL_MS} ms)`);
    await expectSampledLocalCopies(c, 'n3');
    const ae = (await Promise.all(['n1', 'n2', 'n3'].map((id) => status(c, id)))).map((s) => s!.antiEntropy);
    console.log(`anti-entropy status after restart: ${JSON.stringify(ae)}`);
    expect(ae.reduce((n, s) => n + s.keysRepaired, 0)).toBeGreaterThanOrEqual(KEYS);
    for (const s of ae) {
      expect(s.lastExchange).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(s.bytesSent).toBeGreaterThan(0);
    }
  });

  it('cluster wipe n3: the empty node is rebuilt from its peers', { timeout: 240_000 }, async () => {
    await c.cliOk(['cluster', 'wipe', 'n3']);
    const wiped = Date.now();
    expect((await status(c, 'n3'))!.storage.keys).toBeLessThan(KEYS);
    const ms = await waitForKeys(c, 'n3', KEYS, WIPE_GOAL_MS, wiped);
    console.log(`anti-entropy: wiped n3 rebuilt all ${KEYS} keys ${ms} ms after the wipe (goal ≤ ${WIPE_GOAL_MS} ms)`);
    await expectSampledLocalCopies(c, 'n3');
  });
});
