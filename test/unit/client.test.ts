/**
 * The client SDK (DESIGN §8a) without node processes:
 * - pure parts: value encoding, envelope parsing, error mapping, option checks;
 * - against scriptable fake nodes (node:http): what is sent where, fail-over
 *   and retry policy, error mapping, ring refresh;
 * - against real public-API servers over an in-process cluster of KvNodes:
 *   the client's routing math equals the nodes' own, and token-aware routing
 *   needs no forwarding hop.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client, DynakvError, SiblingsError, type Sibling } from '../../src/client/index.js';
import { classifyTransportError, errorFromResponse } from '../../src/client/errors.js';
import { consistencyParam, keyPath } from '../../src/client/options.js';
import { memberUrl, normalizeUrl } from '../../src/client/topology.js';
import { encodeValue, parseEnvelope } from '../../src/client/values.js';
import type { KvNode } from '../../src/core/kv-node.js';
import { preferenceList } from '../../src/core/ring/ring.js';
import { buildPublicServer } from '../../src/http/public-api.js';
import type { KvService } from '../../src/node/service.js';
import { LocalCluster } from './support/local-cluster.js';

const ENVELOPE = 'application/vnd.dynakv+json';
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

// ---------------------------------------------------------------------------
// Pure parts

describe('client values', () => {
  it('encodes bytes, strings and JSON with their content types; contentType overrides', () => {
    expect(encodeValue(new Uint8Array([1, 2]), undefined)).toMatchObject({ contentType: 'application/octet-stream' });
    expect([...encodeValue(new Uint8Array([1, 2]), undefined).body]).toEqual([1, 2]);
    const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    expect([...encodeValue(view, undefined).body]).toEqual([8, 7]);
    expect([...encodeValue(new Uint16Array([1]).buffer, undefined).body]).toEqual([1, 0]);
    expect(encodeValue('héllo', undefined)).toMatchObject({ contentType: 'text/plain; charset=utf-8' });
    expect(encodeValue('héllo', undefined).body.toString('utf8')).toBe('héllo');
    expect(encodeValue({ a: [1] }, undefined)).toMatchObject({ contentType: 'application/json' });
    expect(encodeValue({ a: [1] }, undefined).body.toString()).toBe('{"a":[1]}');
    expect(encodeValue(null, undefined).body.toString()).toBe('null');
    expect(encodeValue(42, 'application/x-count').contentType).toBe('application/x-count');
    expect(() => encodeValue(undefined as never, undefined)).toThrow(TypeError);
  });

  it('parses the sibling envelope (base64 values, dates) and rejects malformed ones', () => {
    const env = {
      context: 'ctx1',
      siblings: [
        { value: b64('{"x":1}'), contentType: 'application/json', lastModified: '2026-01-02T03:04:05.000Z' },
        { value: b64(new Uint8Array([0, 255])), contentType: 'application/octet-stream', lastModified: 'garbage' },
      ],
    };
    const parsed = parseEnvelope(Buffer.from(JSON.stringify(env)));
    expect(parsed.context).toBe('ctx1');
    expect(parsed.siblings[0]!.json()).toEqual({ x: 1 });
    expect(parsed.siblings[0]!.lastModified.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect([...parsed.siblings[1]!.value]).toEqual([0, 255]);
    expect(parsed.siblings[1]!.value).toBeInstanceOf(Uint8Array);
    expect(parsed.siblings[1]!.lastModified.getTime()).toBe(0);
    for (const bad of ['[]', '{"siblings":{}}', '{"siblings":[{"value":"***"}]}', '{"context":5,"siblings":[]}', 'nope']) {
      expect(() => parseEnvelope(Buffer.from(bad)), bad).toThrow();
    }
  });

  it('maps error answers: the API JSON with its details, Retry-After, and non-API bodies by status', () => {
    const q = errorFromResponse(503, {}, Buffer.from('{"error":{"code":"quorum_not_met","message":"2 of 3","required":3,"acknowledged":2}}'), 'http://n1');
    expect(q).toBeInstanceOf(DynakvError);
    expect(q).toMatchObject({ code: 'quorum_not_met', status: 503, message: '2 of 3', details: { required: 3, acknowledged: 2, node: 'http://n1' } });
    const o = errorFromResponse(503, { 'retry-after': '2' }, Buffer.from('{"error":{"code":"overloaded","message":"busy"}}'), 'http://n1');
    expect(o).toMatchObject({ code: 'overloaded', details: { retryAfterSeconds: 2 } });
    expect(errorFromResponse(502, {}, Buffer.from('<html>bad gateway</html>'), 'http://n1')).toMatchObject({ code: 'internal', status: 502 });
    expect(errorFromResponse(404, {}, Buffer.from(''), 'http://n1')).toMatchObject({ code: 'not_found', status: 404 });
    expect(errorFromResponse(400, {}, Buffer.from('{"error":{"code":"nonsense"}}'), 'http://n1')).toMatchObject({ code: 'invalid_parameter' });
  });

  it('classifies transport failures: only connection-phase errors are provably unsent', () => {
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'ECONNREFUSED', syscall: 'connect' }))).toBe('connect');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'EHOSTUNREACH', syscall: 'connect' }))).toBe('connect');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe('connect');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toBe('timeout');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'ECONNRESET', syscall: 'read' }))).toBe('connection_lost');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe('connection_lost');
    expect(classifyTransportError(new Error('?'))).toBe('connection_lost');
  });

  it('checks quorum options and keys client-side', () => {
    expect(consistencyParam('w', 'all', 1)).toBe('all');
    expect(consistencyParam('w', 2, 1)).toBe('2');
    expect(consistencyParam('pw', 0, 0)).toBe('0');
    expect(consistencyParam('w', undefined, 1)).toBeUndefined();
    for (const bad of [0, -1, 1.5, NaN, 'most', '2']) {
      expect(() => consistencyParam('w', bad as never, 1), String(bad)).toThrow(expect.objectContaining({ code: 'invalid_parameter', status: 400 }));
    }
    expect(keyPath('a/b c')).toBe('/v1/kv/a%2Fb%20c');
    expect(keyPath('é'.repeat(512))).toMatch(/^\/v1\/kv\//);
    for (const bad of ['', 'x'.repeat(1025), 'é'.repeat(513), 'a\ud800b']) {
      expect(() => keyPath(bad)).toThrow(expect.objectContaining({ code: 'invalid_key', status: 400 }));
    }
  });

  it('normalises node URLs and member addresses', () => {
    expect(normalizeUrl('127.0.0.1:7001')).toBe('http://127.0.0.1:7001');
    expect(normalizeUrl('http://localhost:7001/')).toBe('http://localhost:7001');
    expect(() => normalizeUrl('http://h:1/x')).toThrow(TypeError);
    expect(memberUrl('127.0.0.1:7002', 'http://127.0.0.1:7001')).toBe('http://127.0.0.1:7002');
    expect(memberUrl('0.0.0.0:7002', 'http://10.1.2.3:7001')).toBe('http://10.1.2.3:7002');
    expect(memberUrl('::1:7002', 'http://[::1]:7001')).toBe('http://[::1]:7002');
    expect(memberUrl('nonsense', 'http://h:1')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Fake nodes

interface Rec {
  node: string;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type KvHandler = (rec: Rec, res: ServerResponse, req: IncomingMessage) => void;

class FakeNode {
  readonly requests: Rec[] = [];
  kv: KvHandler | undefined;
  ringVersionHeader: string | undefined;
  url = '';
  constructor(
    readonly id: string,
    readonly cluster: FakeCluster,
    readonly server: Server,
  ) {}

  kvRequests(method?: string): Rec[] {
    return this.requests.filter((r) => r.path.startsWith('/v1/kv/') && (method === undefined || r.method === method));
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function sendErrorJson(res: ServerResponse, status: number, code: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message: `${code} (fake)`, ...extra } }, headers);
}

/** The default key handler: PUT/DELETE 204 with a context, GET 404. */
const defaultKv: KvHandler = (rec, res) => {
  if (rec.method === 'GET') return sendErrorJson(res, 404, 'not_found');
  res.writeHead(204, { 'x-dynakv-context': `ctx-${rec.node}` });
  res.end();
};

class FakeCluster {
  readonly nodes: FakeNode[] = [];
  ringVersion = 1;
  replicas = 3;
  zones = new Map<string, string>();
  /** Partition owners: 8 partitions dealt round-robin. */
  owners(): string[] {
    return Array.from({ length: 8 }, (_, p) => this.nodes[p % this.nodes.length]!.id);
  }
  node(id: string): FakeNode {
    return this.nodes.find((n) => n.id === id)!;
  }
  byUrl(url: string): FakeNode {
    return this.nodes.find((n) => n.url === url)!;
  }
  ringFetches(): number {
    return this.nodes.reduce((s, n) => s + n.requests.filter((r) => r.path === '/v1/cluster/ring').length, 0);
  }
  async close(): Promise<void> {
    for (const n of this.nodes) n.server.closeAllConnections();
    await Promise.all(this.nodes.map((n) => new Promise<void>((resolve) => n.server.close(() => resolve()))));
  }
}

async function fakeCluster(size: number): Promise<FakeCluster> {
  const cluster = new FakeCluster();
  for (let i = 1; i <= size; i++) {
    const server = createServer();
    const node = new FakeNode(`f${i}`, cluster, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url ?? '/', 'http://x');
        const rec: Rec = { node: node.id, method: req.method ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks) };
        node.requests.push(rec);
        if (rec.path === '/v1/cluster/ring') {
          return sendJson(res, 200, { partitions: 8, replicas: cluster.replicas, owners: cluster.owners(), version: cluster.ringVersion });
        }
        if (rec.path === '/v1/cluster/members') {
          return sendJson(
            res,
            200,
            cluster.nodes.map((n) => ({ id: n.id, api: n.url.slice('http://'.length), peer: 'x:1', status: 'alive', incarnation: 1, zone: cluster.zones.get(n.id) ?? null })),
          );
        }
        if (node.ringVersionHeader !== undefined) res.setHeader('x-dynakv-ring-version', node.ringVersionHeader);
        (node.kv ?? defaultKv)(rec, res, req);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cluster.nodes.push(node);
  }
  return cluster;
}

/** A key whose preference list (first primary first) is known, with the fake nodes in that order. */
async function placed(client: Client, cluster: FakeCluster, key = 'k1'): Promise<{ key: string; primaries: FakeNode[]; others: FakeNode[] }> {
  const p = await client.locate(key);
  if (p === undefined) throw new Error('no ring');
  const primaries = p.primaries.map((id) => cluster.node(id));
  return { key, primaries, others: cluster.nodes.filter((n) => !primaries.includes(n)) };
}

function envelope(context: string, values: Array<[string, string]>): string {
  return JSON.stringify({
    context,
    siblings: values.map(([v, ct]) => ({ value: b64(v), contentType: ct, lastModified: '2026-05-01T00:00:00.000Z' })),
  });
}

describe('client against fake nodes', () => {
  let cluster: FakeCluster;
  const clients: Client[] = [];
  const client = (opts: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client => {
    const c = new Client({ nodes: [cluster.nodes[0]!.url], ...opts });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await fakeCluster(5);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const n of cluster.nodes) {
      n.kv = undefined;
      n.ringVersionHeader = undefined;
      n.requests.length = 0;
    }
    cluster.ringVersion = 1;
    cluster.zones.clear();
  });
  afterAll(() => cluster.close());

  it('GET asks for the envelope with r/pr/timeout and parses one value, siblings and not-found', async () => {
    const db = client({ r: 'all', timeoutMs: 1234 });
    const { key, primaries } = await placed(db, cluster);
    const replies: Array<(res: ServerResponse) => void> = [
      (res) => {
        res.writeHead(200, { 'content-type': ENVELOPE, 'x-dynakv-context': 'c1' });
        res.end(envelope('c1', [['{"items":["book"]}', 'application/json']]));
      },
      (res) => {
        res.writeHead(300, { 'content-type': ENVELOPE, 'x-dynakv-context': 'c2' });
        res.end(envelope('c2', [['a', 'text/plain'], ['b', 'text/plain']]));
      },
      (res) => sendErrorJson(res, 404, 'not_found', {}, { 'x-dynakv-context': 'tomb' }),
      (res) => {
        // A node that ignores Accept: raw bytes.
        res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': 'Fri, 01 May 2026 00:00:00 GMT', 'x-dynakv-context': 'c3' });
        res.end('raw');
      },
    ];
    for (const p of primaries) p.kv = (_rec, res) => replies.shift()!(res);

    const one = await db.get(key, { pr: 1 });
    expect(one).toMatchObject({ found: true, context: 'c1' });
    expect(one.json()).toEqual({ items: ['book'] });
    expect(one.siblings[0]!.contentType).toBe('application/json');

    const two = await db.get(key);
    expect(two.siblings.map((s) => s.text())).toEqual(['a', 'b']);
    expect(() => two.text()).toThrow(SiblingsError);
    expect(() => two.json()).toThrow(/2 siblings/);

    const none = await db.get(key);
    expect(none).toMatchObject({ found: false, siblings: [], context: 'tomb' });
    expect(() => none.text()).toThrow(/not found/);

    const raw = await db.get(key);
    expect(raw.text()).toBe('raw');
    expect(raw.siblings[0]!.lastModified.toISOString()).toBe('2026-05-01T00:00:00.000Z');

    const gets = primaries.flatMap((p) => p.kvRequests('GET'));
    expect(gets).toHaveLength(4);
    expect(gets[0]!.headers.accept).toBe(ENVELOPE);
    expect(gets[0]!.query.get('r')).toBe('all');
    expect(gets[0]!.query.get('pr')).toBe('1');
    expect(gets[0]!.query.get('timeout')).toBe('1234');
    expect(gets[1]!.query.get('pr')).toBeNull();
  });

  it('PUT sends bytes, content type, context and w/pw to the first primary; returns the new context', async () => {
    const db = client({ w: 'quorum', pw: 1 });
    const { key, primaries } = await placed(db, cluster);
    expect(await db.put(key, { items: ['book'] }, { context: 'ctx0', w: 2 })).toEqual({ context: `ctx-${primaries[0]!.id}` });
    await db.put(key, 'text');
    await db.put(key, new Uint8Array([1, 2, 3]), { contentType: 'image/png', timeoutMs: 777 });
    const puts = primaries[0]!.kvRequests('PUT');
    expect(puts).toHaveLength(3);
    expect(puts[0]).toMatchObject({ path: `/v1/kv/${key}` });
    expect(puts[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-dynakv-context': 'ctx0' });
    expect(puts[0]!.body.toString()).toBe('{"items":["book"]}');
    expect(puts[0]!.query.get('w')).toBe('2');
    expect(puts[0]!.query.get('pw')).toBe('1');
    expect(puts[1]!.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(puts[1]!.headers['x-dynakv-context']).toBeUndefined();
    expect(puts[1]!.query.get('w')).toBe('quorum');
    expect(puts[2]!.headers['content-type']).toBe('image/png');
    expect([...puts[2]!.body]).toEqual([1, 2, 3]);
    expect(puts[2]!.query.get('timeout')).toBe('777');
    expect(db.stats()).toMatchObject({ requests: 3, toPrimary: 3, toNonPrimary: 0, failovers: 0 });
  });

  it('DELETE sends the context and w/r; keys with slashes are percent-encoded', async () => {
    const db = client();
    const key = 'cart/42 x';
    const { primaries } = await placed(db, cluster, key);
    expect(await db.delete(key, { context: 'c9', w: 'all', r: 1 })).toEqual({ context: `ctx-${primaries[0]!.id}` });
    const del = primaries[0]!.kvRequests('DELETE')[0]!;
    expect(del.headers['x-dynakv-context']).toBe('c9');
    expect(del.query.get('w')).toBe('all');
    expect(del.query.get('r')).toBe('1');
    expect(decodeURIComponent(del.path.slice('/v1/kv/'.length))).toBe(key);
  });

  it('maps node errors to DynakvError with code, status and details', async () => {
    const db = client();
    const { key, primaries } = await placed(db, cluster);
    primaries[0]!.kv = (rec, res) =>
      rec.query.get('w') === 'all'
        ? sendErrorJson(res, 503, 'quorum_not_met', { required: 3, acknowledged: 2 })
        : sendErrorJson(res, 400, 'invalid_parameter', { parameter: 'w' });
    const err = await db.put(key, 'x', { w: 'all' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynakvError);
    expect(err).toMatchObject({ code: 'quorum_not_met', status: 503, details: { required: 3, acknowledged: 2 } });
    await expect(db.put(key, 'x', { w: 7 })).rejects.toMatchObject({ code: 'invalid_parameter', status: 400 });
    // A write is never retried on an HTTP error.
    expect(primaries[0]!.kvRequests('PUT')).toHaveLength(2);
    expect(db.stats().failovers).toBe(0);
  });

  it('rejects malformed options and keys before sending anything', async () => {
    const db = client();
    await expect(db.get('')).rejects.toMatchObject({ code: 'invalid_key' });
    await expect(db.put('k', 1, { w: 'most' as never })).rejects.toMatchObject({ code: 'invalid_parameter', details: { parameter: 'w' } });
    await expect(db.get('k', { pr: -1 })).rejects.toMatchObject({ code: 'invalid_parameter' });
    await expect(db.get('k', { timeoutMs: 0 })).rejects.toMatchObject({ code: 'invalid_parameter' });
    await expect(db.put('k', undefined as never)).rejects.toMatchObject({ code: 'invalid_parameter', details: { parameter: 'value' } });
    await expect(db.put('k', { n: 1n } as never)).rejects.toMatchObject({ code: 'invalid_parameter' });
    expect(() => new Client({ nodes: [cluster.nodes[0]!.url], w: 0 })).toThrow(DynakvError);
    expect(() => new Client({ nodes: [] })).toThrow(TypeError);
    expect(cluster.nodes.flatMap((n) => n.kvRequests())).toHaveLength(0);
  });

  it('token-aware: writes go to the first primary, reads spread over the primaries', async () => {
    const db = client();
    const { key, primaries, others } = await placed(db, cluster);
    for (let i = 0; i < 12; i++) await db.put(key, `v${i}`);
    for (let i = 0; i < 30; i++) await db.get(key);
    expect(primaries[0]!.kvRequests('PUT')).toHaveLength(12);
    for (const p of primaries) expect(p.kvRequests('GET').length).toBeGreaterThanOrEqual(5);
    for (const o of others) expect(o.kvRequests()).toHaveLength(0);
    expect(db.stats()).toMatchObject({ requests: 42, toPrimary: 42, toNonPrimary: 0 });
  });

  it('without token-awareness requests go round-robin over every node, and the stats count non-primaries', async () => {
    const db = client({ tokenAware: false });
    const { key, others } = await placed(db, cluster);
    for (let i = 0; i < 50; i++) await db.put(key, 'v');
    for (const n of cluster.nodes) expect(n.kvRequests('PUT')).toHaveLength(10);
    const s = db.stats();
    expect(s.toNonPrimary).toBe(others.length * 10);
    expect(s.toPrimary + s.toNonPrimary).toBe(50);
  });

  it('fails over on a refused connection, for writes too (nothing was sent)', async () => {
    const spare = await fakeCluster(1); // a node we can shut down: listed as the key's first primary
    const portOfDead = spare.nodes[0]!.url;
    await spare.close();
    const db = client();
    const { key, primaries } = await placed(db, cluster);
    // Point the first primary's member entry at the closed port.
    const first = primaries[0]!;
    const realUrl = first.url;
    first.url = portOfDead;
    try {
      await db.refresh();
      expect(await db.put(key, 'v')).toEqual({ context: `ctx-${primaries[1]!.id}` });
      const s = db.stats();
      expect(s).toMatchObject({ requests: 2, failovers: 1, toPrimary: 2 });
      // The dead node is now tried last: the next write goes straight to the second primary.
      await db.put(key, 'v2');
      expect(db.stats()).toMatchObject({ requests: 3, failovers: 1 });
      expect(primaries[1]!.kvRequests('PUT')).toHaveLength(2);
    } finally {
      first.url = realUrl;
    }
  });

  it('never resends a write whose connection broke after sending; a read goes to the next node', async () => {
    const db = client();
    const { key, primaries } = await placed(db, cluster);
    primaries[0]!.kv = (_rec, _res, req) => req.socket.destroy();
    const err = (await db.put(key, 'v').catch((e: unknown) => e)) as DynakvError;
    expect(err).toBeInstanceOf(DynakvError);
    expect(err).toMatchObject({ code: 'unavailable', status: 0, details: { reason: 'connection_lost', maybeApplied: true } });
    expect(cluster.nodes.flatMap((n) => n.kvRequests('PUT'))).toHaveLength(1);

    // Reads are safe to repeat anywhere: the first node tried breaks the connection, the next one answers.
    let broke = false;
    for (const p of primaries) {
      p.kv = (rec, res, req) => {
        if (!broke) {
          broke = true;
          return req.socket.destroy();
        }
        defaultKv(rec, res, req);
      };
    }
    const got = await db.get(key);
    expect(got.found).toBe(false);
    expect(db.stats().failovers).toBeGreaterThanOrEqual(1);
  });

  it('a write that times out is not retried (unavailable, maybeApplied); a read on an overloaded node goes elsewhere', async () => {
    const db = client({ timeoutMs: 100, timeoutSlackMs: 100 });
    const { key, primaries } = await placed(db, cluster);
    primaries[0]!.kv = () => undefined; // never answers
    const t0 = Date.now();
    await expect(db.put(key, 'v')).rejects.toMatchObject({ code: 'unavailable', details: { reason: 'timeout', maybeApplied: true } });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(cluster.nodes.flatMap((n) => n.kvRequests('PUT'))).toHaveLength(1);

    for (const p of primaries) p.kv = (_rec, res) => sendErrorJson(res, 503, 'overloaded', {}, { 'retry-after': '1' });
    primaries[2]!.kv = undefined;
    const got = await db.get(key);
    expect(got.found).toBe(false);
    expect(primaries[2]!.kvRequests('GET')).toHaveLength(1);
  });

  it('a write refused with overloaded (nothing applied) goes to the next node; quorum_not_met does not', async () => {
    const db = client();
    const { key, primaries } = await placed(db, cluster);
    primaries[0]!.kv = (_rec, res) => sendErrorJson(res, 503, 'overloaded', { retryAfterSeconds: 1 }, { 'retry-after': '1' });
    await db.put(key, 'v');
    expect(primaries[0]!.kvRequests('PUT')).toHaveLength(1);
    expect(primaries[1]!.kvRequests('PUT')).toHaveLength(1);
    // quorum_not_met means the write was coordinated (and may be partly applied): it is final.
    const before = cluster.nodes.flatMap((n) => n.kvRequests('PUT')).length;
    primaries[0]!.kv = (_rec, res) => sendErrorJson(res, 503, 'quorum_not_met', { required: 2, acknowledged: 1 });
    await expect(db.put(key, 'w')).rejects.toMatchObject({ code: 'quorum_not_met' });
    expect(cluster.nodes.flatMap((n) => n.kvRequests('PUT')).length).toBe(before + 1);
  });

  it('update(): reads, resolves and writes with the context; after quorum_not_met on the write it re-reads and re-resolves', async () => {
    const db = client({ updateBackoffMs: 1 });
    const { key, primaries } = await placed(db, cluster);
    let puts = 0;
    let reads = 0;
    for (const p of primaries) {
      p.kv = (rec, res) => {
        if (rec.method === 'GET') {
          reads++;
          res.writeHead(300, { 'content-type': ENVELOPE, 'x-dynakv-context': `read${reads}` });
          return res.end(envelope(`read${reads}`, [['{"items":["a"]}', 'application/json'], ['{"items":["b"]}', 'application/json']]));
        }
        puts++;
        if (puts === 1) return sendErrorJson(res, 503, 'quorum_not_met', { required: 2, acknowledged: 1 });
        res.writeHead(204, { 'x-dynakv-context': 'written' });
        res.end();
      };
    }
    const seen: Array<readonly Sibling[]> = [];
    const result = await db.update(key, (siblings) => {
      seen.push(siblings);
      const items = new Set(siblings.flatMap((s) => s.json<{ items: string[] }>().items));
      items.add('c');
      return { items: [...items].sort() };
    });
    expect(result).toEqual({ context: 'written', attempts: 2, written: true });
    expect(seen).toHaveLength(2);
    expect(reads).toBe(2);
    const lastPut = primaries[0]!.kvRequests('PUT').at(-1)!;
    expect(lastPut.headers['x-dynakv-context']).toBe('read2');
    expect(JSON.parse(lastPut.body.toString())).toEqual({ items: ['a', 'b', 'c'] });
  });

  it('update(): an empty sibling list for a new key; other errors are not retried; attempts are bounded', async () => {
    const db = client({ updateBackoffMs: 1 });
    const { key, primaries } = await placed(db, cluster);
    let calls = 0;
    await db.update(key, (siblings) => {
      calls++;
      expect(siblings).toEqual([]);
      return ['x'];
    });
    expect(calls).toBe(1);
    expect(primaries[0]!.kvRequests('PUT')[0]!.headers['x-dynakv-context']).toBeUndefined();

    expect(await db.update(key, () => undefined)).toMatchObject({ written: false, attempts: 1 });

    primaries[0]!.kv = (rec, res) => (rec.method === 'GET' ? defaultKv(rec, res, undefined as never) : sendErrorJson(res, 400, 'invalid_context'));
    for (const p of primaries.slice(1)) p.kv = primaries[0]!.kv;
    let tries = 0;
    await expect(db.update(key, () => (tries++, 'v'))).rejects.toMatchObject({ code: 'invalid_context' });
    expect(tries).toBe(1);

    for (const p of primaries) p.kv = (rec, res) => (rec.method === 'GET' ? sendErrorJson(res, 503, 'quorum_not_met', { required: 3, acknowledged: 1 }) : defaultKv(rec, res, undefined as never));
    await expect(db.update(key, () => 'v', { attempts: 3, r: 'all' })).rejects.toMatchObject({ code: 'quorum_not_met' });
    expect(primaries.reduce((s, p) => s + p.kvRequests('GET').filter((r) => r.query.get('r') === 'all').length, 0)).toBe(3);
  });

  it('refreshes the ring when a node reports another version, and periodically', async () => {
    const db = client();
    const { key, primaries } = await placed(db, cluster);
    const before = cluster.ringFetches();
    primaries[0]!.ringVersionHeader = '1';
    await db.put(key, 'v');
    await new Promise((r) => setTimeout(r, 50));
    expect(cluster.ringFetches()).toBe(before); // same version: no refresh
    cluster.ringVersion = 2;
    primaries[0]!.ringVersionHeader = '2';
    await db.put(key, 'v');
    await expect.poll(() => db.stats().ringVersion, { timeout: 3000 }).toBe(2);

    const periodic = client({ ringRefreshMs: 50 });
    await periodic.locate(key);
    const n0 = periodic.stats().ringRefreshes;
    await expect.poll(() => periodic.stats().ringRefreshes, { timeout: 3000 }).toBeGreaterThan(n0 + 1);
  });

  it('uses the members\' zones for preference lists, as the nodes do', async () => {
    // Zones a,a,b,b,c: owners f1..f5 round-robin, so the first three of a walk often share a zone.
    for (const [id, zone] of [['f1', 'a'], ['f2', 'a'], ['f3', 'b'], ['f4', 'b'], ['f5', 'c']] as const) cluster.zones.set(id, zone);
    const db = client();
    const owners = cluster.owners();
    const fakeRing = { partitions: 8, replicas: 3, owners, version: 1 };
    let differs = 0;
    for (let i = 0; i < 64; i++) {
      const key = `z:${i}`;
      const mine = (await db.locate(key))!;
      const expected = preferenceList(fakeRing, mine.partition, cluster.zones);
      expect(mine.primaries).toEqual(expected.primaries);
      expect(mine.fallbacks).toEqual(expected.fallbacks);
      if (preferenceList(fakeRing, mine.partition).primaries.join() !== expected.primaries.join()) differs++;
      expect(new Set(mine.primaries.map((id) => cluster.zones.get(id))).size).toBe(3);
    }
    expect(differs).toBeGreaterThan(0);
  });

  it('unavailable when no node can be reached; closed clients reject', async () => {
    const spare = await fakeCluster(1);
    const url = spare.nodes[0]!.url;
    await spare.close();
    const db = new Client({ nodes: [url], connectTimeoutMs: 500 });
    clients.push(db);
    const err = (await db.get('k').catch((e: unknown) => e)) as DynakvError;
    expect(err).toMatchObject({ name: 'DynakvError', code: 'unavailable', status: 0, details: { reason: 'connect', maybeApplied: false } });
    await expect(db.put('k', 'v')).rejects.toMatchObject({ code: 'unavailable', details: { reason: 'connect', maybeApplied: false } });
    expect(db.stats().unplaced).toBeGreaterThan(0);
    await db.close();
    await db.close();
    await expect(db.get('k')).rejects.toMatchObject({ code: 'unavailable', details: { reason: 'closed' } });
  });
});

// ---------------------------------------------------------------------------
// Real public API over in-process KvNodes

/** The node as the API sees it, with members' `api` set to the real listening addresses. */
function serviceOf(node: KvNode, apiOf: Map<string, string>): KvService {
  return {
    id: node.id,
    replicas: node.replicas,
    valueBytesMax: node.valueBytesMax,
    get: (key, o) => node.get(key, o),
    put: (key, r, o) => node.put(key, r, o),
    delete: (key, c, o) => node.delete(key, c, o),
    localGet: (key) => node.localGet(key),
    members: () => node.members().map((m) => ({ ...m, api: apiOf.get(m.id) ?? m.api })),
    ring: () => node.ring(),
    preflist: (key) => node.preflist(key),
    status: () => node.status(),
    ready: () => true,
  };
}

describe('client against the real API over in-process nodes (5 nodes, N=3)', () => {
  let cluster: LocalCluster;
  const servers = new Map<string, FastifyInstance>();
  const apiOf = new Map<string, string>();
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await LocalCluster.create(5, 3, 64);
    for (const [id, node] of cluster.nodes) {
      const app = buildPublicServer(serviceOf(node, apiOf));
      await app.listen({ host: '127.0.0.1', port: 0 });
      servers.set(id, app);
      apiOf.set(id, `127.0.0.1:${(app.server.address() as AddressInfo).port}`);
    }
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await Promise.all([...servers.values()].map((s) => s.close()));
    cluster.close();
  });

  const client = (opts: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client => {
    const c = new Client({ nodes: [`http://${apiOf.get('n1')!}`], ...opts });
    clients.push(c);
    return c;
  };
  const forwarded = (): number => [...cluster.nodes.values()].reduce((s, n) => s + n.coordinator.forwarded, 0);

  it('computes the same preference lists as the nodes', async () => {
    const db = client();
    for (let i = 0; i < 300; i++) {
      const key = `key:${i}:${Math.random().toString(36).slice(2)}`;
      const mine = await db.locate(key);
      const theirs = cluster.node('n3').preflist(key);
      expect(mine).toEqual({ partition: theirs.partition, primaries: theirs.primaries, fallbacks: theirs.fallbacks });
    }
  });

  it('token-aware writes need no forwarding hop; round-robin ones do, as often as the stats say', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `fw:${i}`);
    const aware = client();
    const f0 = forwarded();
    for (const k of keys) await aware.put(k, 'v');
    expect(forwarded() - f0).toBe(0);
    expect(aware.stats()).toMatchObject({ requests: 200, toPrimary: 200, toNonPrimary: 0 });

    const blind = client({ tokenAware: false });
    const f1 = forwarded();
    for (const k of keys) await blind.put(k, 'v');
    const s = blind.stats();
    expect(s.toNonPrimary).toBeGreaterThan(40); // 2 of 5 nodes are outside each preference list: ~40 %
    expect(forwarded() - f1).toBe(s.toNonPrimary);
  });

  it('round-trips values, makes siblings of blind writes and resolves them with update()', async () => {
    const db = client();
    await db.put('rt:bin', new Uint8Array([0, 1, 254, 255]));
    const bin = await db.get('rt:bin');
    expect([...bin.siblings[0]!.value]).toEqual([0, 1, 254, 255]);
    expect(bin.siblings[0]!.contentType).toBe('application/octet-stream');

    await db.put('rt:cart', { items: ['a'] });
    await db.put('rt:cart', { items: ['b'] });
    const two = await db.get('rt:cart', { r: 'all' });
    expect(two.siblings).toHaveLength(2);
    await db.update('rt:cart', (sibs) => ({ items: [...new Set(sibs.flatMap((s) => s.json<{ items: string[] }>().items))].sort() }), { w: 'all' });
    const one = await db.get('rt:cart', { r: 'all' });
    expect(one.json()).toEqual({ items: ['a', 'b'] });

    await db.delete('rt:cart', { context: one.context });
    expect(await db.get('rt:cart')).toMatchObject({ found: false });
  });

  it('a stopped node is skipped: reads and writes fail over', async () => {
    const db = client();
    const key = 'fo:1';
    const first = (await db.locate(key))!.primaries[0]!;
    await servers.get(first)!.close();
    cluster.down.add(first);
    try {
      await db.put(key, { v: 1 });
      expect((await db.get(key)).json()).toEqual({ v: 1 });
      expect(db.stats().failovers).toBeGreaterThanOrEqual(1);
    } finally {
      cluster.down.delete(first);
    }
  });
});
