import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynakvError, ERROR_CODES } from '../../src/core/errors.js';
import { LIMITS } from '../../src/core/limits.js';
import type { MemberInfo } from '../../src/core/messages.js';
import { decodeContext, encodeContext } from '../../src/core/version/codec.js';
import { merge, update } from '../../src/core/version/dvv.js';
import type { VersionedObject, VersionVector } from '../../src/core/version/types.js';
import { ERROR_STATUS, errorTableRows, renderErrorTable } from '../../src/http/errors.js';
import { decodeKey, parseDeleteOptions, parseGetOptions, parsePutOptions, validateKey } from '../../src/http/params.js';
import { buildPublicServer, publicApi } from '../../src/http/public-api.js';
import type {
  DeleteOptions,
  GetOptions,
  KvService,
  PreflistView,
  PutOptions,
  PutRequest,
  RingView,
  StatusReport,
} from '../../src/node/service.js';

/** An in-memory KvService: one map, DVV update/merge, N=3. */
class FakeService implements KvService {
  readonly id = 'n1';
  readonly replicas = 3;
  readonly valueBytesMax = LIMITS.valueBytesMaxDefault;
  readonly data = new Map<string, VersionedObject>();
  readonly calls: Array<{ op: string; key: string; options: unknown; context?: VersionVector | undefined }> = [];
  /** When set, the next service call throws it. */
  failWith: unknown = undefined;
  isReady = true;
  clock = 1_700_000_000_000;

  private maybeFail(): void {
    if (this.failWith !== undefined) {
      const e = this.failWith;
      this.failWith = undefined;
      throw e;
    }
  }

  async get(key: string, options: GetOptions): Promise<VersionedObject | undefined> {
    this.calls.push({ op: 'get', key, options });
    this.maybeFail();
    return this.data.get(key);
  }

  async put(key: string, request: PutRequest, options: PutOptions): Promise<VersionedObject> {
    this.calls.push({ op: 'put', key, options, context: request.context });
    this.maybeFail();
    const next = update(
      this.data.get(key),
      request.context,
      'n1.e1',
      { value: request.value, contentType: request.contentType, deleted: false, lastModifiedMs: this.clock++ },
      LIMITS.siblingsMaxDefault,
    );
    this.store(key, next);
    return next;
  }

  async delete(key: string, context: VersionVector | undefined, options: DeleteOptions): Promise<VersionedObject> {
    this.calls.push({ op: 'delete', key, options, context });
    this.maybeFail();
    const ctx = context ?? this.data.get(key)?.vv ?? [];
    const next = update(
      this.data.get(key),
      ctx,
      'n1.e1',
      { value: new Uint8Array(0), contentType: '', deleted: true, lastModifiedMs: this.clock++ },
      LIMITS.siblingsMaxDefault,
    );
    this.store(key, next);
    return next;
  }

  private store(key: string, obj: VersionedObject): void {
    const prev = this.data.get(key);
    this.data.set(key, prev === undefined ? obj : merge(prev, obj));
  }

  localGet(key: string): VersionedObject | undefined {
    this.calls.push({ op: 'localGet', key, options: undefined });
    return this.data.get(key);
  }

  members(): MemberInfo[] {
    return [
      { id: 'n1', api: '127.0.0.1:7001', peer: '127.0.0.1:7101', status: 'alive', incarnation: 1, zone: 'z1' },
      { id: 'n2', api: '127.0.0.1:7002', peer: '127.0.0.1:7102', status: 'suspect', incarnation: 4, zone: undefined },
    ];
  }

  ring(): RingView {
    return { partitions: 8, replicas: 3, owners: ['n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1', 'n2'], version: 7 };
  }

  preflist(key: string): PreflistView {
    this.calls.push({ op: 'preflist', key, options: undefined });
    return { partition: 5, primaries: ['n3', 'n1', 'n2'], fallbacks: ['n4'] };
  }

  status(): StatusReport {
    return {
      id: 'n1',
      uptime: 12,
      members: this.members(),
      hints: { pending: 0, byTarget: {} },
      antiEntropy: { lastExchange: null, keysRepaired: 0, bytesSent: 0 },
      storage: { keys: this.data.size, bytes: 0 },
      transfers: { active: 0, pending: 0 },
    };
  }

  ready(): boolean {
    return this.isReady;
  }

  remove(id: string): { id: string; status: string } {
    if (id === 'n9') return { id, status: 'left' };
    if (id === 'n2') throw new DynakvError('invalid_parameter', 'n2 is alive: only a dead member can be removed');
    throw new DynakvError('not_found', `no member ${id}`);
  }

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

interface Envelope {
  context: string;
  siblings: Array<{ value: string; contentType: string; lastModified: string; deleted?: boolean }>;
}

let service: FakeService;
let app: FastifyInstance;

beforeEach(async () => {
  service = new FakeService();
  app = buildPublicServer(service);
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

function put(key: string, body: string | Buffer, headers: Record<string, string> = {}, query = '') {
  return app.inject({ method: 'PUT', url: `/v1/kv/${key}${query}`, payload: body, headers });
}

function errorOf(res: { json: () => unknown }): { code: string; message: string; [k: string]: unknown } {
  return (res.json() as { error: { code: string; message: string } }).error;
}

describe('PUT / GET / DELETE /v1/kv/{key}', () => {
  it('round-trips 256 random bytes byte-identical with their content type', async () => {
    const bytes = randomBytes(256);
    const p = await put('blob', bytes, { 'content-type': 'application/x-test' });
    expect(p.statusCode).toBe(204);
    expect(p.body).toBe('');
    const ctx = p.headers['x-dynakv-context'] as string;
    expect(ctx).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeContext(ctx, 'blob')).toEqual([['n1.e1', 1]]);

    const g = await app.inject({ method: 'GET', url: '/v1/kv/blob' });
    expect(g.statusCode).toBe(200);
    expect(g.headers['content-type']).toBe('application/x-test');
    expect(g.headers['x-dynakv-context']).toBe(ctx);
    expect(g.headers['last-modified']).toBe(new Date(service.clock - 1).toUTCString());
    expect(Buffer.compare(g.rawPayload, bytes)).toBe(0);
  });

  it('names each value\'s own second in Last-Modified, however replies interleave', async () => {
    const times: Array<[string, number]> = [];
    for (const [key, ms] of [['t1', 1_700_000_000_999], ['t2', 1_700_000_001_000], ['t3', 1_600_000_000_000]] as const) {
      service.clock = ms;
      await put(key, 'v');
      times.push([key, ms]);
    }
    for (const [key, ms] of [...times, ...times.reverse()]) {
      const g = await app.inject({ url: `/v1/kv/${key}` });
      expect(g.headers['last-modified']).toBe(new Date(ms).toUTCString());
    }
  });

  it('stores bodies of any content type as raw bytes (JSON is not parsed), default octet-stream', async () => {
    expect((await put('j', '{"a": 1 }', { 'content-type': 'application/json' })).statusCode).toBe(204);
    const g = await app.inject({ url: '/v1/kv/j' });
    expect(g.headers['content-type']).toBe('application/json');
    expect(g.body).toBe('{"a": 1 }');

    const bad = await put('badjson', '{nope', { 'content-type': 'application/json' });
    expect(bad.statusCode).toBe(204);
    const t = await put('t', 'hello', { 'content-type': 'text/plain; charset=utf-8' });
    expect(t.statusCode).toBe(204);
    expect((await app.inject({ url: '/v1/kv/t' })).headers['content-type']).toBe('text/plain; charset=utf-8');

    const none = await app.inject({ method: 'PUT', url: '/v1/kv/raw', payload: Buffer.from([0, 1, 2]) });
    expect(none.statusCode).toBe(204);
    const g2 = await app.inject({ url: '/v1/kv/raw' });
    expect(g2.headers['content-type']).toBe('application/octet-stream');
    expect([...g2.rawPayload]).toEqual([0, 1, 2]);
  });

  it('accepts an empty body as an empty value', async () => {
    const p = await app.inject({ method: 'PUT', url: '/v1/kv/empty' });
    expect(p.statusCode).toBe(204);
    const p2 = await put('empty2', '', { 'content-type': 'text/plain' });
    expect(p2.statusCode).toBe(204);
    const g = await app.inject({ url: '/v1/kv/empty' });
    expect(g.statusCode).toBe(200);
    expect(g.rawPayload.length).toBe(0);
    expect(g.headers['content-type']).toBe('application/octet-stream');
    const g2 = await app.inject({ url: '/v1/kv/empty2' });
    expect(g2.statusCode).toBe(200);
    expect(g2.rawPayload.length).toBe(0);
  });

  it('two PUTs without context give 300 with both siblings; a PUT with the context resolves them', async () => {
    await put('cart', 'apple', { 'content-type': 'text/plain' });
    await put('cart', 'pear', { 'content-type': 'text/x-pear' });
    const g = await app.inject({ url: '/v1/kv/cart' });
    expect(g.statusCode).toBe(300);
    expect(g.headers['content-type']).toMatch(/^application\/json/);
    const env = g.json() as Envelope;
    expect(env.context).toBe(g.headers['x-dynakv-context']);
    expect(env.siblings).toHaveLength(2);
    expect(env.siblings.map((s) => Buffer.from(s.value, 'base64').toString()).sort()).toEqual(['apple', 'pear']);
    expect(env.siblings.map((s) => s.contentType).sort()).toEqual(['text/plain', 'text/x-pear']);
    for (const s of env.siblings) {
      expect(new Date(s.lastModified).toISOString()).toBe(s.lastModified);
      expect(s).not.toHaveProperty('deleted');
    }

    const resolved = await put('cart', 'apple+pear', { 'content-type': 'text/plain', 'x-dynakv-context': env.context });
    expect(resolved.statusCode).toBe(204);
    const g2 = await app.inject({ url: '/v1/kv/cart' });
    expect(g2.statusCode).toBe(200);
    expect(g2.body).toBe('apple+pear');
    expect(g2.headers['x-dynakv-context']).toBe(resolved.headers['x-dynakv-context']);
  });

  it('DELETE with context gives 404 not_found with the context; a PUT with it gives one value', async () => {
    await put('k', 'v1');
    const g = await app.inject({ url: '/v1/kv/k' });
    const ctx = g.headers['x-dynakv-context'] as string;
    const d = await app.inject({ method: 'DELETE', url: '/v1/kv/k', headers: { 'x-dynakv-context': ctx } });
    expect(d.statusCode).toBe(204);
    expect(d.body).toBe('');
    const tombCtx = d.headers['x-dynakv-context'] as string;
    expect(tombCtx).toBeTruthy();
    expect(service.calls.at(-1)?.context).toEqual(decodeContext(ctx, 'k'));

    const gone = await app.inject({ url: '/v1/kv/k' });
    expect(gone.statusCode).toBe(404);
    expect(errorOf(gone).code).toBe('not_found');
    expect(gone.headers['x-dynakv-context']).toBe(tombCtx);

    const again = await put('k', 'v2', { 'x-dynakv-context': tombCtx });
    expect(again.statusCode).toBe(204);
    const g2 = await app.inject({ url: '/v1/kv/k' });
    expect(g2.statusCode).toBe(200);
    expect(g2.body).toBe('v2');
  });

  it('DELETE without context passes undefined to the service; GET of a never-written key is 404 without context', async () => {
    await put('d', 'x');
    const d = await app.inject({ method: 'DELETE', url: '/v1/kv/d?w=all&r=one&pr=1&pw=2&timeout=100' });
    expect(d.statusCode).toBe(204);
    const call = service.calls.at(-1)!;
    expect(call.op).toBe('delete');
    expect(call.context).toBeUndefined();
    expect(call.options).toEqual({ w: 3, pw: 2, r: 1, pr: 1, timeoutMs: 100 });

    const none = await app.inject({ url: '/v1/kv/never' });
    expect(none.statusCode).toBe(404);
    expect(none.headers['content-type']).toMatch(/^application\/json/);
    expect(errorOf(none).code).toBe('not_found');
    expect(none.headers['x-dynakv-context']).toBeUndefined();
  });

  it('passes r/pr/timeout/repair and w/pw/timeout to the service, with defaults', async () => {
    await app.inject({ url: '/v1/kv/a' });
    expect(service.calls.at(-1)!.options).toEqual({ r: 2, pr: 0, timeoutMs: 5000, repairSync: false });
    await app.inject({ url: '/v1/kv/a?r=all&pr=quorum&timeout=250&repair=sync&unknown=1' });
    expect(service.calls.at(-1)!.options).toEqual({ r: 3, pr: 2, timeoutMs: 250, repairSync: true });
    await put('a', 'x', {}, '?w=one&pw=1&timeout=60000');
    expect(service.calls.at(-1)!.options).toEqual({ w: 1, pw: 1, timeoutMs: 60000 });
    await put('a', 'x');
    expect(service.calls.at(-1)!.options).toEqual({ w: 2, pw: 0, timeoutMs: 5000 });
  });

  it('returnbody=true answers as a GET would (200 raw, then 300 envelope)', async () => {
    const one = await put('rb', 'first', { 'content-type': 'text/plain' }, '?returnbody=true');
    expect(one.statusCode).toBe(200);
    expect(one.body).toBe('first');
    expect(one.headers['content-type']).toBe('text/plain');
    expect(one.headers['x-dynakv-context']).toBeTruthy();
    const two = await put('rb', 'second', { 'content-type': 'text/plain' }, '?returnbody=true');
    expect(two.statusCode).toBe(300);
    expect((two.json() as Envelope).siblings).toHaveLength(2);
    const no = await put('rb', 'third', {}, '?returnbody=false');
    expect(no.statusCode).toBe(204);
  });

  it('keys are percent-decoded path segments', async () => {
    await put('a%2Fb', 'slash');
    expect(service.calls.at(-1)!.key).toBe('a/b');
    expect((await app.inject({ url: '/v1/kv/a/b' })).body).toBe('slash');
    await put('%2525', 'pct');
    expect(service.calls.at(-1)!.key).toBe('%25');
    await put('%F0%9F%9B%92%20cart', 'emoji');
    expect(service.calls.at(-1)!.key).toBe('🛒 cart');
    expect((await app.inject({ url: `/v1/kv/${encodeURIComponent('🛒 cart')}` })).body).toBe('emoji');
  });
});

describe('HEAD /v1/kv/{key}', () => {
  it('mirrors GET: status and headers, no body', async () => {
    const missing = await app.inject({ method: 'HEAD', url: '/v1/kv/h' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toBe('');

    await put('h', 'hello', { 'content-type': 'text/plain' });
    const get = await app.inject({ url: '/v1/kv/h' });
    const head = await app.inject({ method: 'HEAD', url: '/v1/kv/h' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    for (const h of ['content-type', 'x-dynakv-context', 'last-modified', 'content-length']) {
      expect(head.headers[h]).toBe(get.headers[h]);
    }

    await put('h', 'world');
    const head300 = await app.inject({ method: 'HEAD', url: '/v1/kv/h' });
    expect(head300.statusCode).toBe(300);
    expect(head300.body).toBe('');
    expect(head300.headers['x-dynakv-context']).toBeTruthy();

    const ctx = head300.headers['x-dynakv-context'] as string;
    await app.inject({ method: 'DELETE', url: '/v1/kv/h', headers: { 'x-dynakv-context': ctx } });
    const head404 = await app.inject({ method: 'HEAD', url: '/v1/kv/h' });
    expect(head404.statusCode).toBe(404);
    expect(head404.headers['x-dynakv-context']).toBeTruthy();
    expect(service.count('get')).toBe(5);
  });
});

describe('Accept: application/vnd.dynakv+json', () => {
  it('returns the envelope for a single sibling with that content type', async () => {
    await put('e', Buffer.from([1, 2, 3]), { 'content-type': 'application/x-test' });
    const g = await app.inject({ url: '/v1/kv/e', headers: { accept: 'application/vnd.dynakv+json' } });
    expect(g.statusCode).toBe(200);
    expect(g.headers['content-type']).toBe('application/vnd.dynakv+json');
    const env = g.json() as Envelope;
    expect(env.context).toBe(g.headers['x-dynakv-context']);
    expect(env.siblings).toEqual([
      { value: Buffer.from([1, 2, 3]).toString('base64'), contentType: 'application/x-test', lastModified: expect.any(String) },
    ]);
    await put('e', 'x');
    const g2 = await app.inject({ url: '/v1/kv/e', headers: { accept: 'application/vnd.dynakv+json, */*' } });
    expect(g2.statusCode).toBe(300);
    expect(g2.headers['content-type']).toBe('application/vnd.dynakv+json');
  });

  it('tombstone siblings are not listed', async () => {
    await put('ts', 'a');
    // A concurrent delete with an empty-ish context: a tombstone next to a live value.
    const d = await app.inject({ method: 'DELETE', url: '/v1/kv/ts' });
    expect(d.statusCode).toBe(204);
    await put('ts', 'b');
    const g = await app.inject({ url: '/v1/kv/ts', headers: { accept: 'application/vnd.dynakv+json' } });
    const env = g.json() as Envelope;
    expect(env.siblings.every((s) => s.value !== '')).toBe(true);
  });
});

describe('validation', () => {
  const badQueries = [
    '?w=4',
    '?w=0',
    '?w=-1',
    '?w=1.5',
    '?w=some',
    '?w=1&w=2',
    '?pw=4',
    '?pw=3&w=2',
    '?pw=quorum&w=one',
    '?timeout=0',
    '?timeout=60001',
    '?timeout=abc',
    '?returnbody=yes',
  ];
  for (const q of badQueries) {
    it(`PUT ${q} → 400 invalid_parameter, service not called`, async () => {
      const res = await put('k', 'v', {}, q);
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('invalid_parameter');
      expect(service.count('put')).toBe(0);
    });
  }

  for (const q of ['?r=abc', '?r=0', '?r=4', '?pr=2&r=1', '?pr=4', '?timeout=0', '?repair=now', '?pr=-1']) {
    it(`GET ${q} → 400 invalid_parameter`, async () => {
      const res = await app.inject({ url: `/v1/kv/k${q}` });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('invalid_parameter');
      expect(service.count('get')).toBe(0);
    });
  }

  for (const q of ['?w=4', '?r=0', '?pr=3&r=2', '?pw=2&w=1', '?timeout=0']) {
    it(`DELETE ${q} → 400 invalid_parameter`, async () => {
      const res = await app.inject({ method: 'DELETE', url: `/v1/kv/k${q}` });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('invalid_parameter');
      expect(service.count('delete')).toBe(0);
    });
  }

  it('a 2 MiB body → 413 value_too_large, service not called', async () => {
    const res = await put('big', Buffer.alloc(2 * 1024 * 1024, 7), { 'content-type': 'application/x-test' });
    expect(res.statusCode).toBe(413);
    expect(errorOf(res).code).toBe('value_too_large');
    expect(service.count('put')).toBe(0);
    // Exactly the limit is fine.
    const ok = await put('big', Buffer.alloc(service.valueBytesMax, 7));
    expect(ok.statusCode).toBe(204);
  });

  it('an oversized body without a declared length (chunked) → 413 value_too_large', async () => {
    const res = await app.inject({ method: 'PUT', url: '/v1/kv/big', headers: { 'content-type': 'application/x-test' }, payload: Readable.from([Buffer.alloc(700_000), Buffer.alloc(700_000)]) });
    expect(res.statusCode).toBe(413);
    expect(errorOf(res).code).toBe('value_too_large');
    expect(service.count('put')).toBe(0);
  });

  it('over a socket, a client still sending a 2 MiB body gets the 413, never a broken pipe', async () => {
    const server = buildPublicServer(service);
    const origin = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await request(`${origin}/v1/kv/big`, { method: 'PUT', body: Buffer.alloc(2 * 1024 * 1024, 1) });
        const body = JSON.parse(Buffer.from(await res.body.arrayBuffer()).toString()) as { error: { code: string } };
        codes.push(`${res.statusCode} ${body.error.code}`);
      }
      expect(new Set(codes)).toEqual(new Set(['413 value_too_large']));
      expect(service.count('put')).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a garbage context → 400 invalid_context, service not called', async () => {
    for (const ctx of ['garbage!!', 'AAAA', 'x'.repeat(LIMITS.contextCharsMax + 1)]) {
      const res = await put('k', 'v', { 'x-dynakv-context': ctx });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('invalid_context');
      const del = await app.inject({ method: 'DELETE', url: '/v1/kv/k', headers: { 'x-dynakv-context': ctx } });
      expect(del.statusCode).toBe(400);
      expect(errorOf(del).code).toBe('invalid_context');
    }
    expect(service.count('put')).toBe(0);
    expect(service.count('delete')).toBe(0);
  });

  it('POST /v1/admin/remove/{id}: 202 with the member now left; 400 for a live member; 404 for an unknown one', async () => {
    const ok = await app.inject({ method: 'POST', url: '/v1/admin/remove/n9' });
    expect(ok.statusCode).toBe(202);
    expect(ok.json()).toEqual({ id: 'n9', status: 'left' });
    const alive = await app.inject({ method: 'POST', url: '/v1/admin/remove/n2' });
    expect(alive.statusCode).toBe(400);
    expect(errorOf(alive).code).toBe('invalid_parameter');
    const unknown = await app.inject({ method: 'POST', url: '/v1/admin/remove/zz' });
    expect(unknown.statusCode).toBe(404);
    expect(errorOf(unknown).code).toBe('not_found');
  });

  it('a context read from another key → 400 invalid_context, nothing written', async () => {
    const first = await put('cart:a', 'a');
    const ctx = first.headers['x-dynakv-context'] as string;
    expect(ctx).toBeTruthy();
    const puts = service.count('put');
    const res = await put('cart:b', 'b', { 'x-dynakv-context': ctx });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res).code).toBe('invalid_context');
    const del = await app.inject({ method: 'DELETE', url: '/v1/kv/cart:b', headers: { 'x-dynakv-context': ctx } });
    expect(errorOf(del).code).toBe('invalid_context');
    expect(service.count('put')).toBe(puts);
    expect(service.count('delete')).toBe(0);
    expect((await put('cart:a', 'a2', { 'x-dynakv-context': ctx })).statusCode).toBe(204);
  });

  it('keys: 1024 bytes ok, 1025 bytes invalid_key, multibyte counted in bytes, %FF invalid_key', async () => {
    expect((await put('a'.repeat(1024), 'v')).statusCode).toBe(204);
    const long = await put('a'.repeat(1025), 'v');
    expect(long.statusCode).toBe(400);
    expect(errorOf(long).code).toBe('invalid_key');

    // 'é' is 2 bytes: 512 of them = 1024 bytes ok; 512 + 'a' = 1025 bytes rejected.
    const e512 = encodeURIComponent('é'.repeat(512));
    expect((await put(e512, 'v')).statusCode).toBe(204);
    const e513 = await put(`${e512}a`, 'v');
    expect(e513.statusCode).toBe(400);
    expect(errorOf(e513).code).toBe('invalid_key');
    // 4-byte characters (surrogate pairs): 256 × 4 = 1024 ok; 257 rejected.
    expect((await put(encodeURIComponent('🛒'.repeat(256)), 'v')).statusCode).toBe(204);
    expect(errorOf(await put(encodeURIComponent('🛒'.repeat(257)), 'v')).code).toBe('invalid_key');

    for (const bad of ['%FF', 'a%C3', '%ED%A0%80', '%', 'a%2', '%E0%80%80']) {
      const res = await put(bad, 'v');
      expect(res.statusCode, bad).toBe(400);
      expect(errorOf(res).code, bad).toBe('invalid_key');
      const g = await app.inject({ url: `/v1/kv/${bad}` });
      expect(errorOf(g).code, bad).toBe('invalid_key');
    }
    const empty = await put('', 'v');
    expect(empty.statusCode).toBe(400);
    expect(errorOf(empty).code).toBe('invalid_key');
    expect(service.count('put')).toBe(3);
  });

  it('a content type longer than the stored bound → invalid_parameter; a malformed one → invalid_parameter', async () => {
    const long = await put('k', 'v', { 'content-type': `application/${'x'.repeat(300)}` });
    expect(long.statusCode).toBe(400);
    expect(errorOf(long).code).toBe('invalid_parameter');
    const malformed = await put('k', 'v', { 'content-type': 'not a media type' });
    expect(malformed.statusCode).toBe(400);
    expect(errorOf(malformed).code).toBe('invalid_parameter');
    expect(service.count('put')).toBe(0);
  });
});

describe('service errors', () => {
  it('quorum_not_met → 503 with required and acknowledged', async () => {
    service.failWith = new DynakvError('quorum_not_met', 'only 1 of 2 replicas acknowledged', { required: 2, acknowledged: 1 });
    const res = await put('k', 'v', {}, '?w=2');
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      error: { code: 'quorum_not_met', message: 'only 1 of 2 replicas acknowledged', required: 2, acknowledged: 1 },
    });
  });

  it('overloaded → 503 with Retry-After (details or default 1)', async () => {
    service.failWith = new DynakvError('overloaded', 'too many requests in flight', { retryAfterSeconds: 3 });
    const res = await app.inject({ url: '/v1/kv/k' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(errorOf(res).code).toBe('overloaded');
    service.failWith = new DynakvError('overloaded', 'busy');
    const res2 = await app.inject({ url: '/v1/kv/k' });
    expect(res2.headers['retry-after']).toBe('1');
  });

  it('too_many_siblings → 409', async () => {
    service.failWith = new DynakvError('too_many_siblings', 'resolve first', { siblings: 100, limit: 100 });
    const res = await put('k', 'v');
    expect(res.statusCode).toBe(409);
    expect(errorOf(res)).toMatchObject({ code: 'too_many_siblings', siblings: 100, limit: 100 });
  });

  it('a thrown plain Error → 500 internal without stack or message leaked', async () => {
    service.failWith = new Error('secret /etc/path at line 12');
    const res = await app.inject({ url: '/v1/kv/k' });
    expect(res.statusCode).toBe(500);
    const err = errorOf(res);
    expect(err.code).toBe('internal');
    expect(res.body).not.toContain('secret');
    expect(res.body).not.toContain('at ');
    expect(res.body).not.toContain('stack');
  });

  it('every error code maps to its status through the handler', async () => {
    for (const code of ERROR_CODES) {
      service.failWith = new DynakvError(code, `a ${code}`);
      const res = await app.inject({ method: 'DELETE', url: '/v1/kv/k' });
      expect(res.statusCode, code).toBe(ERROR_STATUS[code]);
      expect(errorOf(res).code).toBe(code);
    }
  });
});

describe('cluster and admin routes', () => {
  it('GET /v1/cluster/members', async () => {
    const res = await app.inject({ url: '/v1/cluster/members' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual([
      { id: 'n1', api: '127.0.0.1:7001', peer: '127.0.0.1:7101', status: 'alive', incarnation: 1, zone: 'z1' },
      { id: 'n2', api: '127.0.0.1:7002', peer: '127.0.0.1:7102', status: 'suspect', incarnation: 4, zone: null },
    ]);
  });

  it('GET /v1/cluster/ring', async () => {
    const res = await app.inject({ url: '/v1/cluster/ring' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(service.ring());
  });

  it('GET /v1/cluster/preflist/{key} (key validated)', async () => {
    const res = await app.inject({ url: '/v1/cluster/preflist/a%2Fb' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ partition: 5, primaries: ['n3', 'n1', 'n2'], fallbacks: ['n4'] });
    expect(service.calls.at(-1)).toMatchObject({ op: 'preflist', key: 'a/b' });
    const bad = await app.inject({ url: `/v1/cluster/preflist/${'k'.repeat(1025)}` });
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad).code).toBe('invalid_key');
    const pct = await app.inject({ url: '/v1/cluster/preflist/%FF' });
    expect(errorOf(pct).code).toBe('invalid_key');
  });

  it('GET /v1/admin/status', async () => {
    const res = await app.inject({ url: '/v1/admin/status' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    for (const field of ['id', 'uptime', 'members', 'hints', 'antiEntropy', 'storage', 'transfers']) {
      expect(body).toHaveProperty(field);
    }
    expect((body.members as unknown[])[1]).toMatchObject({ zone: null });
  });

  it('GET /v1/admin/local/{key} lists every sibling with its deleted flag; 404 when absent', async () => {
    const absent = await app.inject({ url: '/v1/admin/local/x' });
    expect(absent.statusCode).toBe(404);
    expect(errorOf(absent).code).toBe('not_found');

    await put('x', 'live', { 'content-type': 'text/plain' });
    // A concurrent tombstone: delete with a context that has not seen the live value.
    const other = update(undefined, [], 'n2.e1', { value: new Uint8Array(), contentType: '', deleted: true, lastModifiedMs: 5 }, 100);
    service.data.set('x', merge(service.data.get('x')!, other));

    const res = await app.inject({ url: '/v1/admin/local/x' });
    expect(res.statusCode).toBe(200);
    const env = res.json() as Envelope;
    expect(env.context).toBe(encodeContext(service.data.get('x')!.vv, 'x'));
    expect(res.headers['x-dynakv-context']).toBe(env.context);
    expect(env.siblings).toHaveLength(2);
    const live = env.siblings.find((s) => !s.deleted)!;
    expect(live).toMatchObject({ value: Buffer.from('live').toString('base64'), contentType: 'text/plain', deleted: false });
    expect(env.siblings.find((s) => s.deleted)).toMatchObject({ deleted: true, lastModified: new Date(5).toISOString() });

    // The public GET shows the live one only (a single live sibling → 200 raw).
    const g = await app.inject({ url: '/v1/kv/x' });
    expect(g.statusCode).toBe(200);
    expect(g.body).toBe('live');

    // Only a tombstone left: public GET is 404, admin/local still shows it.
    const ctx = g.headers['x-dynakv-context'] as string;
    await app.inject({ method: 'DELETE', url: '/v1/kv/x', headers: { 'x-dynakv-context': ctx } });
    const adm = (await app.inject({ url: '/v1/admin/local/x' })).json() as Envelope;
    expect(adm.siblings.length).toBeGreaterThan(0);
    expect(adm.siblings.every((s) => s.deleted)).toBe(true);
    expect((await app.inject({ url: '/v1/kv/x' })).statusCode).toBe(404);
  });

  it('GET /health: 200 ok when ready, 503 otherwise', async () => {
    const ok = await app.inject({ url: '/health' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok' });
    service.isReady = false;
    const no = await app.inject({ url: '/health' });
    expect(no.statusCode).toBe(503);
  });

  it('unknown routes → 404 not_found JSON', async () => {
    const res = await app.inject({ url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res).code).toBe('not_found');
    const post = await app.inject({ method: 'POST', url: '/v1/kv/k', payload: 'x' });
    expect(post.statusCode).toBe(404);
    expect(errorOf(post).code).toBe('not_found');
  });
});

describe('the plugin alone', () => {
  it('registers into a host fastify instance', async () => {
    const { default: Fastify } = await import('fastify');
    const host = Fastify({ logger: false });
    await host.register(publicApi(service));
    await host.ready();
    expect((await host.inject({ method: 'PUT', url: '/v1/kv/p', payload: 'x' })).statusCode).toBe(204);
    expect((await host.inject({ url: '/v1/kv/p' })).body).toBe('x');
    const bad = await host.inject({ url: '/v1/kv/p?r=9' });
    expect(errorOf(bad).code).toBe('invalid_parameter');
    await host.close();
  });
});

describe('params', () => {
  it('resolves names against N', () => {
    expect(parseGetOptions({ r: 'all', pr: 'one' }, 5)).toMatchObject({ r: 5, pr: 1 });
    expect(() => parseGetOptions({ r: 'one', pr: 'all' }, 5)).toThrow(/pr=5 exceeds r=1/);
    expect(parseGetOptions({}, 5)).toMatchObject({ r: 3, pr: 0 });
    expect(parsePutOptions({ w: 'all', pw: '0' }, 3)).toEqual({ w: 3, pw: 0, timeoutMs: 5000, returnBody: false });
    expect(parseDeleteOptions(undefined, 1)).toEqual({ w: 1, pw: 0, r: 1, pr: 0, timeoutMs: 5000 });
  });

  it('validates keys and decodes raw ones', () => {
    expect(validateKey('ok')).toBe('ok');
    expect(() => validateKey('\ud800')).toThrow(DynakvError);
    expect(() => validateKey('a\udc00b')).toThrow(DynakvError);
    expect(validateKey('😀')).toBe('😀');
    expect(decodeKey('a%2Fb')).toBe('a/b');
    expect(() => decodeKey('%FF')).toThrow(/UTF-8/);
    expect(() => decodeKey('')).toThrow(/empty/);
  });
});

describe('error registry', () => {
  it('ERROR_STATUS covers exactly ERROR_CODES', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(ERROR_STATUS).toEqual({
      invalid_key: 400,
      invalid_parameter: 400,
      invalid_context: 400,
      value_too_large: 413,
      too_many_siblings: 409,
      quorum_not_met: 503,
      overloaded: 503,
      not_found: 404,
      unauthorized: 401,
      internal: 500,
    });
  });

  it('renders one README table row per code', () => {
    const rows = errorTableRows();
    expect(rows).toHaveLength(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(rows.some((r) => r.startsWith(`| \`${code}\` | ${ERROR_STATUS[code]} |`))).toBe(true);
    }
    expect(renderErrorTable().split('\n')).toHaveLength(ERROR_CODES.length + 2);
  });
});

describe('over a real loopback socket', () => {
  it('HEAD carries the GET headers and no body; a chunked oversized body is 413', async () => {
    const { request } = await import('node:http');
    await put('sock', 'hello socket', { 'content-type': 'text/plain' });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const url = new URL(address);
    const send = (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, method, path }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        if (body) {
          // Chunked (no Content-Length): the limit must hold while streaming.
          for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
        }
        req.end();
      });
    const head = await send('HEAD', '/v1/kv/sock');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('hello socket'.length));
    expect(head.headers['content-type']).toBe('text/plain');
    expect(head.headers['x-dynakv-context']).toBeTruthy();
    expect(head.body.length).toBe(0);
    const big = await send('PUT', '/v1/kv/sock', Buffer.alloc(2 * 1024 * 1024 + 1, 1));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body.toString()).error.code).toBe('value_too_large');
    const bad = await send('GET', '/v1/kv/%FF');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.code).toBe('invalid_key');
    expect(service.count('put')).toBe(1);
  });
});
