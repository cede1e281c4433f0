import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';

/** Issue "cluster data path", tried as a user would, on real node processes (durable fsync mode). */

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

async function http(url: string, method: 'GET' | 'PUT' | 'DELETE', body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(url, { method, body, headers });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: bytes };
}

const contextOf = (r: Reply): string => String(r.headers['x-dynakv-context'] ?? '');
const errorOf = (r: Reply): { code: string; required?: number; acknowledged?: number } => JSON.parse(r.body.toString()).error;

describe('data path on a 3-node process cluster', () => {
  let c: TestCluster;
  const url = (id: string, path: string): string => `${c.node(id).url}${path}`;

  beforeAll(async () => {
    c = await startCluster({ nodes: 3 });
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('256 random bytes written on n1 read back byte-identical with their content type from n2 and n3', async () => {
    const value = randomBytes(256);
    const put = await http(url('n1', '/v1/kv/blob'), 'PUT', value, { 'content-type': 'application/x-test' });
    expect(put.status).toBe(204);
    expect(contextOf(put)).not.toBe('');
    for (const id of ['n2', 'n3']) {
      const got = await http(url(id, '/v1/kv/blob'), 'GET');
      expect(got.status).toBe(200);
      expect(got.headers['content-type']).toBe('application/x-test');
      expect(Number(got.headers['x-dynakv-ring-version'])).toBeGreaterThanOrEqual(1);
      expect(Buffer.compare(got.body, value)).toBe(0);
    }
  });

  it('two blind writes on different nodes give 300 with both siblings; a write with the context resolves them', async () => {
    await http(url('n1', '/v1/kv/sib'), 'PUT', 'one', { 'content-type': 'text/plain' });
    await http(url('n2', '/v1/kv/sib'), 'PUT', 'two', { 'content-type': 'text/plain' });
    const both = await http(url('n3', '/v1/kv/sib?r=all'), 'GET');
    expect(both.status).toBe(300);
    const envelope = JSON.parse(both.body.toString()) as { context: string; siblings: Array<{ value: string; contentType: string; lastModified: string }> };
    expect(envelope.siblings.map((s) => Buffer.from(s.value, 'base64').toString()).sort()).toEqual(['one', 'two']);
    expect(envelope.siblings.every((s) => s.contentType === 'text/plain' && !Number.isNaN(Date.parse(s.lastModified)))).toBe(true);
    const resolved = await http(url('n3', '/v1/kv/sib'), 'PUT', 'three', { 'content-type': 'text/plain', 'x-dynakv-context': envelope.context });
    expect(resolved.status).toBe(204);
    const after = await http(url('n1', '/v1/kv/sib?r=all'), 'GET');
    expect(after.status).toBe(200);
    expect(after.body.toString()).toBe('three');
  });

  it('DELETE with context → 404 not_found with a context; a PUT with that context → one value', async () => {
    const put = await http(url('n1', '/v1/kv/del'), 'PUT', 'v1');
    const del = await http(url('n2', '/v1/kv/del'), 'DELETE', undefined, { 'x-dynakv-context': contextOf(put) });
    expect(del.status).toBe(204);
    const gone = await http(url('n3', '/v1/kv/del'), 'GET');
    expect(gone.status).toBe(404);
    expect(errorOf(gone).code).toBe('not_found');
    expect(contextOf(gone)).not.toBe('');
    const again = await http(url('n3', '/v1/kv/del'), 'PUT', 'v2', { 'x-dynakv-context': contextOf(gone) });
    expect(again.status).toBe(204);
    const one = await http(url('n1', '/v1/kv/del?r=all'), 'GET');
    expect(one.status).toBe(200);
    expect(one.body.toString()).toBe('v2');
  });

  it('rejects bad requests with the documented codes and leaves nothing behind', async () => {
    const cases: Array<[string, Reply, number, string]> = [
      ['w=4', await http(url('n1', '/v1/kv/bad?w=4'), 'PUT', 'x'), 400, 'invalid_parameter'],
      ['2 MiB', await http(url('n1', '/v1/kv/bad'), 'PUT', Buffer.alloc(2 * 1024 * 1024)), 413, 'value_too_large'],
      ['garbage context', await http(url('n1', '/v1/kv/bad'), 'PUT', 'x', { 'x-dynakv-context': 'garbage!!' }), 400, 'invalid_context'],
      ['1025-byte key', await http(url('n1', `/v1/kv/${'k'.repeat(1025)}`), 'PUT', 'x'), 400, 'invalid_key'],
    ];
    for (const [what, reply, status, code] of cases) {
      expect(reply.status, what).toBe(status);
      expect(errorOf(reply).code, what).toBe(code);
    }
    expect((await http(url('n2', '/v1/kv/bad?r=all'), 'GET')).status).toBe(404);
    for (const id of ['n1', 'n2', 'n3']) expect((await http(url(id, '/v1/admin/local/bad'), 'GET')).status).toBe(404);
  });

  it('with n3 killed, quorum reads and writes succeed and w=all fails; n3 restarts with what it acknowledged', async () => {
    const before = await http(url('n1', '/v1/kv/durable?w=all'), 'PUT', 'acked-by-all');
    expect(before.status).toBe(204);
    await c.cliOk(['cluster', 'kill', 'n3']);
    expect((await http(url('n1', '/v1/kv/during'), 'PUT', 'x')).status).toBe(204);
    expect((await http(url('n2', '/v1/kv/during'), 'GET')).status).toBe(200);
    const all = await http(url('n1', '/v1/kv/during?w=all'), 'PUT', 'y');
    expect(all.status).toBe(503);
    expect(errorOf(all)).toMatchObject({ code: 'quorum_not_met', required: 3, acknowledged: 2 });
    await c.cliOk(['cluster', 'start', 'n3']);
    const local = await http(url('n3', '/v1/admin/local/durable'), 'GET');
    expect(local.status).toBe(200);
  });

  it('1,000 writes acknowledged at w=all survive SIGKILL of every node', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    const nodes = ['n1', 'n2', 'n3'];
    for (let i = 0; i < keys.length; i += 50) {
      const replies = await Promise.all(keys.slice(i, i + 50).map((k, j) => http(url(nodes[(i + j) % 3]!, `/v1/kv/${k}?w=all`), 'PUT', `value-${k}`)));
      for (const r of replies) expect(r.status).toBe(204);
    }
    for (const id of nodes) await c.cliOk(['cluster', 'kill', id]);
    for (const id of nodes) await c.cliOk(['cluster', 'start', id]);
    let readable = 0;
    for (let i = 0; i < keys.length; i += 50) {
      const replies = await Promise.all(keys.slice(i, i + 50).map((k) => http(url('n2', `/v1/kv/${k}?r=all`), 'GET')));
      readable += replies.filter((r, j) => r.status === 200 && r.body.toString() === `value-${keys[i + j]}`).length;
    }
    expect(readable).toBe(1000);
  });
});
