import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';

/**
 * Issue "Cluster changes that move data": real node processes. 3 nodes hold
 * 3,000 keys written at w=all while a client keeps writing new keys; `cluster
 * add` joins n4 (partitions stream to it, writes reach old and new owners),
 * then `cluster leave n2` hands n2's partitions off and stops it. Every key
 * and every acknowledged write stays readable at r=all. Prints partitions
 * moved vs ideal, transfer time and MB/s, write p99 during transfers vs before.
 * Bounded loops, no timing assertions.
 */

const KEYS = 3000;
const WRITERS = 16;
const PARTITIONS = 256;
const SETTLE_TIMEOUT_MS = 60_000;

interface TransferStatus {
  active: number;
  pending: number;
  ringPending: number;
  bytesSent: number;
  keysSent: number;
  verified: number;
}
interface Status {
  storage: { keys: number };
  transfers: TransferStatus;
  ring: { version: number };
}

async function call(url: string, method: 'GET' | 'PUT' = 'GET', body?: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { method, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function json<T>(url: string): Promise<T | undefined> {
  const res = await call(url).catch(() => undefined);
  return res?.status === 200 ? (JSON.parse(res.text) as T) : undefined;
}

function p99(samples: number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

/** A client writing new keys the whole time (bounded), to the nodes `targets()` names; records what was acknowledged and latencies by phase. */
class BackgroundWriter {
  readonly acked: string[] = [];
  readonly latencies = new Map<string, number[]>();
  phase = 'before';
  private running = true;
  private done: Promise<void> | undefined;

  start(targets: () => string[]): void {
    let i = 0;
    const loop = async (): Promise<void> => {
      for (; this.running && i < 200_000; ) {
        const n = i++;
        const urls = targets();
        const key = `live:${n}`;
        const started = performance.now();
        const res = await call(`${urls[n % urls.length]}/v1/kv/${key}?w=2`, 'PUT', `live-${n}`).catch(() => undefined);
        if (res?.status === 204) {
          this.acked.push(key);
          const list = this.latencies.get(this.phase) ?? [];
          list.push(performance.now() - started);
          this.latencies.set(this.phase, list);
        }
      }
    };
    this.done = Promise.all([loop(), loop()]).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

async function settled(c: TestCluster, ids: string[], since: number): Promise<number> {
  let last: Array<Status | undefined> = [];
  for (let i = 0; i < SETTLE_TIMEOUT_MS / 250 && Date.now() - since < SETTLE_TIMEOUT_MS; i++) {
    last = await Promise.all(ids.map((id) => json<Status>(`${c.node(id).url}/v1/admin/status`)));
    const versions = new Set(last.map((s) => s?.ring.version));
    if (last.every((s) => s !== undefined && s.transfers.ringPending === 0 && s.transfers.active === 0) && versions.size === 1) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`transfers not finished after ${SETTLE_TIMEOUT_MS} ms: ${JSON.stringify(last.map((s) => s?.transfers))}`);
}

async function owners(c: TestCluster, id: string): Promise<string[]> {
  const ring = await json<{ owners: string[] }>(`${c.node(id).url}/v1/cluster/ring`);
  if (ring === undefined) throw new Error(`${id}: no ring`);
  return ring.owners;
}

async function readAll(c: TestCluster, via: string, keys: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  let next = 0;
  const reader = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) {
      const res = await call(`${c.node(via).url}/v1/kv/${keys[i]}?r=all`);
      if (res.status !== 200) missing.push(`${keys[i]}:${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, reader));
  return missing;
}

async function bytesSent(c: TestCluster, ids: string[]): Promise<number> {
  const all = await Promise.all(ids.map((id) => json<Status>(`${c.node(id).url}/v1/admin/status`)));
  return all.reduce((sum, s) => sum + (s?.transfers.bytesSent ?? 0), 0);
}

describe('join and leave under load (process cluster)', () => {
  let c: TestCluster | undefined;
  afterAll(() => c?.stop(), 60_000);

  it('cluster add streams a quarter of the partitions to n4; cluster leave n2 empties and stops it; nothing acknowledged is lost', async () => {
    c = await startCluster({ nodes: 3, flags: ['--sync', 'none'] });
    const cluster = c;
    const keys = Array.from({ length: KEYS }, (_, i) => `jl:${i}`);
    let next = 0;
    const writer = async (): Promise<void> => {
      for (let i = next++; i < KEYS; i = next++) {
        const res = await call(`${cluster.node(`n${(i % 3) + 1}`).url}/v1/kv/${keys[i]}?w=all`, 'PUT', `value-${i}-${'x'.repeat(200)}`);
        if (res.status !== 204) throw new Error(`PUT ${keys[i]} → ${res.status} ${res.text}`);
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));

    let targets = ['n1', 'n2', 'n3'];
    const live = new BackgroundWriter();
    live.start(() => targets.map((id) => cluster.node(id).url));
    await new Promise((r) => setTimeout(r, 1500));

    // ---- join
    live.phase = 'join';
    const joinStarted = Date.now();
    await cluster.cliOk(['cluster', 'add']);
    const joinMs = await settled(cluster, ['n1', 'n2', 'n3', 'n4'], joinStarted);
    const joinBytes = await bytesSent(cluster, ['n1', 'n2', 'n3']);
    const ring = await owners(cluster, 'n1');
    const n4Owned = ring.filter((o) => o === 'n4').length;
    live.phase = 'after-join';
    expect(n4Owned).toBeGreaterThanOrEqual(Math.floor((PARTITIONS / 4) * 0.85));
    expect(n4Owned).toBeLessThanOrEqual(Math.ceil((PARTITIONS / 4) * 1.15));
    const missingAfterJoin = await readAll(cluster, 'n4', [...keys, ...live.acked]);
    expect(missingAfterJoin.slice(0, 10)).toEqual([]);

    // ---- leave
    targets = ['n1', 'n3', 'n4'];
    await new Promise((r) => setTimeout(r, 500));
    live.phase = 'leave';
    const leaveStarted = Date.now();
    await cluster.cliOk(['cluster', 'leave', 'n2', '--timeout', '90']);
    const leaveMs = await settled(cluster, ['n1', 'n3', 'n4'], leaveStarted);
    live.phase = 'after-leave';
    await new Promise((r) => setTimeout(r, 500));
    await live.stop();
    const leaveBytes = (await bytesSent(cluster, ['n1', 'n3', 'n4'])) + 0;
    expect((await owners(cluster, 'n1')).includes('n2')).toBe(false);
    const rows = await cluster.status();
    expect(rows.find((r) => r.id === 'n2')?.state).toBe('LEFT');

    const missing = await readAll(cluster, 'n4', [...keys, ...live.acked]);
    expect(missing.slice(0, 10)).toEqual([]);

    const lat = (phase: string): string => `${p99(live.latencies.get(phase) ?? []).toFixed(1)} ms (${live.latencies.get(phase)?.length ?? 0} writes)`;
    console.log(
      [
        `join: n4 owns ${n4Owned} partitions (ideal ${PARTITIONS / 4}); transfers settled in ${(joinMs / 1000).toFixed(1)} s; ` +
          `${(joinBytes / 1e6).toFixed(2)} MB streamed (${(joinBytes / 1e6 / (joinMs / 1000)).toFixed(2)} MB/s incl. verification passes)`,
        `leave: n2 gone, transfers settled ${(leaveMs / 1000).toFixed(1)} s after the request (cumulative streamed by n1,n3,n4: ${(leaveBytes / 1e6).toFixed(2)} MB)`,
        `write p99 before ${lat('before')}; during join ${lat('join')}; during leave ${lat('leave')}`,
        `acknowledged live writes: ${live.acked.length}, all readable at r=all through n4`,
      ].join('\n'),
    );
  }, 180_000);
});
