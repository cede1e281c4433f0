import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';

/** Issue "always writable", tried as a user would on real node processes. */

async function call(url: string, method: 'GET' | 'PUT' = 'GET', body?: string): Promise<{ status: number; json: () => any; text: string }> {
  const res = await request(url, { method, body });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: () => JSON.parse(text) };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (let i = 0; i < 10_000; i++) {
    const value = await probe();
    if (value !== undefined) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function hintsPending(c: TestCluster): Promise<number> {
  let total = 0;
  for (const n of c.nodes) {
    const s = await call(`${n.url}/v1/admin/status`).catch(() => undefined);
    if (s?.status === 200) total += s.json().hints.pending as number;
  }
  return total;
}

describe('always writable (5 nodes)', () => {
  let c: TestCluster;
  afterAll(async () => {
    await c?.stop();
  });

  it('sloppy quorum takes writes with two primaries down and hinted handoff delivers them on return', async () => {
    c = await startCluster({ nodes: 5, flags: ['--sync', 'none'] });
    const any = c.node('n1').url;
    const pl = (await call(`${any}/v1/cluster/preflist/cart:42`)).json() as { primaries: string[]; fallbacks: string[] };
    const [, p2, p3] = pl.primaries as [string, string, string];
    const live = c.nodes.find((n) => n.id !== p2 && n.id !== p3)!.url;
    await c.cliOk(['cluster', 'kill', p2]);
    await c.cliOk(['cluster', 'kill', p3]);

    expect((await call(`${live}/v1/kv/cart:42?w=2`, 'PUT', 'book')).status).toBe(204);
    const strict = await call(`${live}/v1/kv/cart:42?w=2&pw=2`, 'PUT', 'pen');
    expect(strict.status).toBe(503);
    expect(strict.json().error.code).toBe('quorum_not_met');
    expect(await hintsPending(c)).toBeGreaterThan(0);

    await c.cliOk(['cluster', 'start', p2]);
    await c.cliOk(['cluster', 'start', p3]);
    const delivered = await waitFor(
      'both primaries to hold the write and hints to drain',
      async () => {
        for (const p of [p2, p3]) {
          const local = await call(`${c.node(p).url}/v1/admin/local/cart:42`);
          if (local.status !== 200) return undefined;
        }
        return (await hintsPending(c)) === 0 ? true : undefined;
      },
      30_000,
    );
    console.log(`hinted handoff: primaries caught up and hints drained ${delivered.ms} ms after restart`);
  });

  it('with 4 of 5 nodes down the last one takes a w=1 write, which reaches all 3 primaries after restart', async () => {
    const key = 'lonely:1';
    const pl = (await call(`${c.node('n1').url}/v1/cluster/preflist/${key}`)).json() as { primaries: string[] };
    const survivor = c.nodes.map((n) => n.id).find((id) => !pl.primaries.includes(id))!;
    const others = c.nodes.map((n) => n.id).filter((id) => id !== survivor);
    for (const id of others) await c.cliOk(['cluster', 'kill', id]);
    expect((await call(`${c.node(survivor).url}/v1/kv/${key}?w=1`, 'PUT', 'alone')).status).toBe(204);
    for (const id of others) await c.cliOk(['cluster', 'start', id]);
    const reached = await waitFor(
      'the write on all 3 primaries',
      async () => {
        for (const p of pl.primaries) if ((await call(`${c.node(p).url}/v1/admin/local/${key}`)).status !== 200) return undefined;
        return true;
      },
      60_000,
    );
    console.log(`4-of-5 down: write reached all primaries ${reached.ms} ms after restart`);
  });
});

describe('read repair alone (3 nodes, handoff and anti-entropy off)', () => {
  let c: TestCluster;
  afterAll(async () => {
    await c?.stop();
  });

  it('one GET ?r=all repairs a replica that missed a write', async () => {
    c = await startCluster({ nodes: 3, flags: ['--sync', 'none', '--hinted-handoff', 'off', '--anti-entropy', 'off'] });
    await c.cliOk(['cluster', 'kill', 'n3']);
    expect((await call(`${c.node('n1').url}/v1/kv/rr?w=2`, 'PUT', 'v')).status).toBe(204);
    await c.cliOk(['cluster', 'start', 'n3']);
    expect((await call(`${c.node('n3').url}/v1/admin/local/rr`)).status).toBe(404);
    expect((await call(`${c.node('n1').url}/v1/kv/rr?r=all`)).status).toBe(200);
    await waitFor('n3 repaired', async () => ((await call(`${c.node('n3').url}/v1/admin/local/rr`)).status === 200 ? true : undefined), 5_000);
  });
});
