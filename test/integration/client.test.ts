/**
 * The client SDK (DESIGN §8a) against real node processes made by the
 * `dynakv cluster` tool: values round-trip, siblings and their resolution,
 * interleaved read-modify-write cycles without lost updates or sibling
 * explosion, fail-over with a node killed, error mapping, and token-aware
 * routing (no forwarding hop) on a 5-node ring.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, DynakvError, type Sibling } from '../../src/client/index.js';
import { NODE_BUILT, startCluster, type TestCluster } from './helpers/cluster.js';

interface Cart {
  items: string[];
}

/** Union of the siblings' item lists (plus `add`), sorted. */
function unionWith(add: string | undefined): (siblings: readonly Sibling[]) => Cart {
  return (siblings) => {
    const items = new Set(siblings.flatMap((s) => s.json<Cart>().items));
    if (add !== undefined) items.add(add);
    return { items: [...items].sort() };
  };
}

async function forwardedTotal(cluster: TestCluster): Promise<number | undefined> {
  let total = 0;
  for (const n of cluster.nodes) {
    const res = await fetch(`${n.url}/v1/admin/status`);
    const status = (await res.json()) as { coordinator?: { forwarded?: unknown } };
    const f = status.coordinator?.forwarded;
    if (typeof f !== 'number') return undefined;
    total += f;
  }
  return total;
}

describe.runIf(NODE_BUILT)('client SDK on a 3-node cluster', () => {
  let cluster: TestCluster;
  const clients: Client[] = [];
  const client = (nodes: string[], opts: Omit<ConstructorParameters<typeof Client>[0], 'nodes'> = {}): Client => {
    const c = new Client({ nodes, ...opts });
    clients.push(c);
    return c;
  };
  let urls: string[];

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, flags: ['--sync', 'none'] });
    urls = cluster.nodes.map((n) => n.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
  }, 60_000);

  it('round-trips JSON, text and binary values with their content types', async () => {
    const db = client([urls[0]!]);
    const bytes = new Uint8Array(256).map((_, i) => i);
    await db.put('rt:json', { items: ['book'], n: 1.5, nested: { ok: true } });
    await db.put('rt:text', 'héllo wörld');
    await db.put('rt:bin', bytes);
    await db.put('rt:typed', '<p>x</p>', { contentType: 'text/html' });

    const json = await db.get('rt:json', { r: 'all' });
    expect(json.found).toBe(true);
    expect(json.json()).toEqual({ items: ['book'], n: 1.5, nested: { ok: true } });
    expect(json.siblings[0]!.contentType).toBe('application/json');
    expect(json.context).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Math.abs(json.siblings[0]!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
    expect((await db.get('rt:text')).text()).toBe('héllo wörld');
    const bin = await db.get('rt:bin');
    expect(bin.siblings[0]!.contentType).toBe('application/octet-stream');
    expect([...bin.siblings[0]!.value]).toEqual([...bytes]);
    expect((await db.get('rt:typed')).siblings[0]!.contentType).toBe('text/html');
    expect(await db.get('rt:missing')).toMatchObject({ found: false, siblings: [], context: undefined });
  });

  it('two blind writes become two siblings; update() with a union resolver leaves one holding both', async () => {
    const db = client([urls[1]!]);
    const key = 'cart:siblings';
    await db.put(key, { items: ['book'] });
    await db.put(key, { items: ['pen'] });
    const two = await db.get(key, { r: 'all' });
    expect(two.siblings).toHaveLength(2);
    expect(() => two.json()).toThrow(/2 siblings/);

    const res = await db.update(key, unionWith(undefined), { r: 'all', w: 'all' });
    expect(res).toMatchObject({ written: true, attempts: 1 });
    const one = await db.get(key, { r: 'all' });
    expect(one.siblings).toHaveLength(1);
    expect(one.json()).toEqual({ items: ['book', 'pen'] });

    // A write with the read's context replaces; a delete with it removes.
    await db.put(key, { items: [] }, { context: one.context });
    const emptied = await db.get(key, { r: 'all' });
    expect(emptied.json()).toEqual({ items: [] });
    await db.delete(key, { context: emptied.context, w: 'all' });
    const gone = await db.get(key, { r: 'all' });
    expect(gone).toMatchObject({ found: false, siblings: [] });
    expect(gone.context).toBeDefined(); // the tombstone's
  });

  it('two clients doing 40 interleaved update() adds each keep all 80 items, with at most 2 siblings', async () => {
    const key = 'cart:interleaved';
    const a = client([urls[0]!]);
    const b = client([urls[2]!]);
    const run = async (db: Client, prefix: string): Promise<void> => {
      for (let i = 0; i < 40; i++) await db.update(key, unionWith(`${prefix}${String(i).padStart(2, '0')}`));
    };
    await Promise.all([run(a, 'a'), run(b, 'b')]);
    const final = await a.get(key, { r: 'all' });
    expect(final.siblings.length).toBeGreaterThanOrEqual(1);
    expect(final.siblings.length).toBeLessThanOrEqual(2);
    const items = new Set(final.siblings.flatMap((s) => s.json<Cart>().items));
    expect(items.size).toBe(80);
    for (let i = 0; i < 40; i++) {
      expect(items.has(`a${String(i).padStart(2, '0')}`)).toBe(true);
      expect(items.has(`b${String(i).padStart(2, '0')}`)).toBe(true);
    }
  }, 60_000);

  it('computes the same preference lists as the nodes', async () => {
    const db = client([urls[0]!]);
    for (let i = 0; i < 30; i++) {
      const key = `pl:${i}:${Math.random()}`;
      const res = await fetch(`${urls[1]!}/v1/cluster/preflist/${encodeURIComponent(key)}`);
      const theirs = (await res.json()) as { partition: number; primaries: string[]; fallbacks: string[] };
      expect(await db.locate(key)).toEqual(theirs);
    }
  });

  it('w: 7 is invalid_parameter (400)', async () => {
    const db = client([urls[0]!]);
    const err = await db.put('bad:w', 'x', { w: 7 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynakvError);
    expect(err).toMatchObject({ code: 'invalid_parameter', status: 400 });
  });

  it('with n3 killed, clients (one seeded with n3 first, one already connected) still read and write; w: all is quorum_not_met (503)', async () => {
    const before = client([urls[2]!, urls[0]!]);
    const keys = Array.from({ length: 30 }, (_, i) => `down:${i}`);
    for (const k of keys) await before.put(k, { k });

    await cluster.cliOk(['cluster', 'kill', 'n3']);

    const seededWithN3 = client([cluster.node('n3').url, cluster.node('n1').url]);
    for (const db of [seededWithN3, before]) {
      for (const k of keys) {
        const got = await db.get(k);
        expect(got.siblings.length, k).toBeGreaterThanOrEqual(1);
        await db.put(k, { k, again: true }, { context: got.context });
      }
    }
    // Some of these keys have n3 as their first primary: their writes went to the next primary.
    // (The new client found n3 down while learning the ring, so it tried n3 last from the start;
    // the old one learned it from refused connections and failed over.)
    const n3First = [];
    for (const k of keys) if ((await seededWithN3.locate(k))?.primaries[0] === 'n3') n3First.push(k);
    expect(n3First.length).toBeGreaterThan(0);
    expect(before.stats().failovers).toBeGreaterThan(0);
    const last = await seededWithN3.get(keys[0]!, { r: 2 });
    expect(last.json()).toEqual({ k: keys[0], again: true });

    const err = await seededWithN3.put('down:all', 'x', { w: 'all', timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynakvError);
    expect(err).toMatchObject({ code: 'quorum_not_met', status: 503 });
    expect((err as DynakvError).details).toMatchObject({ required: 3 });
    expect((err as DynakvError).details.acknowledged).toBeLessThan(3);
  }, 60_000);
});

describe.runIf(NODE_BUILT)('token-aware routing on a 5-node cluster (N=3)', () => {
  let cluster: TestCluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 5, flags: ['--sync', 'none'] });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
  }, 60_000);

  it('token-aware writes need no forwarding hop; round-robin ones need one for ~2/5 of the keys', async () => {
    const keys = Array.from({ length: 300 }, () => `tok:${Math.random().toString(36).slice(2)}`);
    const aware = new Client({ nodes: [cluster.nodes[0]!.url] });
    const blind = new Client({ nodes: [cluster.nodes[0]!.url], tokenAware: false });
    clients.push(aware, blind);

    const f0 = await forwardedTotal(cluster);
    for (const k of keys) await aware.put(k, 'v');
    const f1 = await forwardedTotal(cluster);
    for (const k of keys) await blind.put(k, 'v');
    const f2 = await forwardedTotal(cluster);

    const sa = aware.stats();
    const sb = blind.stats();
    expect(sa).toMatchObject({ requests: keys.length, toPrimary: keys.length, toNonPrimary: 0 });
    expect(sb.toPrimary + sb.toNonPrimary).toBe(keys.length);
    expect(sb.toNonPrimary / keys.length).toBeGreaterThan(0.25);
    expect(sb.toNonPrimary / keys.length).toBeLessThan(0.55);
    if (f0 !== undefined && f1 !== undefined && f2 !== undefined) {
      // The nodes' own count of forwarded writes agrees with the client's.
      expect(f1 - f0).toBe(0);
      expect(f2 - f1).toBe(sb.toNonPrimary);
    }
  }, 60_000);
});
