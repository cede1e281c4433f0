/**
 * Shopping-cart set workload, Jepsen-style set checker and replica convergence
 * check, shared by the process-cluster fault test (test/integration/faults.test.ts)
 * and the container suite (test/containers/cluster.test.ts). Plain HTTP via
 * undici to base URLs the caller gives (loopback or mapped container ports), so
 * it works whatever the nodes advertise.
 *
 * Each op: GET the cart (envelope, r=quorum) → union of every sibling's JSON
 * item list + one new unique item → PUT with the read's context (w=2). An item
 * is *attempted* when its PUT is sent, *acknowledged* on 204, *failed* when the
 * node definitely did not apply it (connection refused, 4xx), *indeterminate*
 * otherwise (timeouts, resets, 5xx such as quorum_not_met: maybe applied).
 */
import { Agent, request } from 'undici';

export const ENVELOPE = 'application/vnd.dynakv+json';

/** Small seeded PRNG (mulberry32): same seed → same fault and key choices. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Http {
  agent: Agent;
  close(): Promise<void>;
}

/** One connection pool for a workload; short timeouts so a paused node only costs a few seconds. */
export function http(timeoutMs = 4_000): Http {
  const agent = new Agent({ connect: { timeout: 1_500 }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 2_000 });
  return { agent, close: () => agent.close() };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function call(h: Http, url: string, init: { method?: 'GET' | 'PUT'; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const res = await request(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, dispatcher: h.agent });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function header(r: Reply, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface CartRead {
  items: Set<string>;
  context: string | undefined;
  siblings: number;
}

/** Reads a cart at `r` from one node: the union of every sibling's items. Throws on anything but 200/300/404. */
export async function readCart(h: Http, base: string, key: string, r: string | number = 'quorum', timeoutMs = 2_000): Promise<CartRead> {
  const res = await call(h, `${base}/v1/kv/${encodeURIComponent(key)}?r=${r}&timeout=${timeoutMs}`, { headers: { accept: ENVELOPE } });
  if (res.status === 404) return { items: new Set(), context: header(res, 'x-dynakv-context'), siblings: 0 };
  if (res.status !== 200 && res.status !== 300) throw new Error(`GET ${key} r=${r} on ${base}: ${res.status} ${res.text.slice(0, 200)}`);
  const env = JSON.parse(res.text) as { context: string; siblings: Array<{ value: string }> };
  const items = new Set<string>();
  for (const s of env.siblings) {
    const doc = JSON.parse(Buffer.from(s.value, 'base64').toString('utf8')) as { items?: unknown };
    if (Array.isArray(doc.items)) for (const i of doc.items) items.add(String(i));
  }
  return { items, context: env.context, siblings: env.siblings.length };
}

export interface History {
  /** item → key */
  attempted: Map<string, string>;
  acked: Set<string>;
  failed: Set<string>;
  indeterminate: Set<string>;
  /** Completed client operations (read + write), including failed ones. */
  ops: number;
  /** Ops whose read found no node to answer (no add attempted). */
  readFailures: number;
  elapsedMs: number;
}

export interface WorkloadOptions {
  /** Current base URLs of the nodes (called per op: container ports may move). */
  urls: () => string[];
  keys: string[];
  clients: number;
  durationMs: number;
  /** Hard bound on ops, whatever the time. */
  maxOps: number;
  seed: number;
  w?: string | number;
  r?: string | number;
  /** Pause between one client's ops (ms), to keep 2 cores breathing. */
  thinkMs?: number;
  /** Ends the workload early when it returns true (checked before each op). */
  stop?: () => boolean;
}

function definiteFailure(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
}

/** Runs `clients` concurrent cart clients until the time or op bound; never throws for node errors. */
export async function runCartWorkload(h: Http, opts: WorkloadOptions): Promise<History> {
  const hist: History = { attempted: new Map(), acked: new Set(), failed: new Set(), indeterminate: new Set(), ops: 0, readFailures: 0, elapsedMs: 0 };
  const started = Date.now();
  const deadline = started + opts.durationMs;
  const w = opts.w ?? 2;
  const r = opts.r ?? 'quorum';
  const client = async (c: number): Promise<void> => {
    const rand = rng(opts.seed * 1000 + c);
    for (let seq = 0; Date.now() < deadline && hist.ops < opts.maxOps && !opts.stop?.(); seq++) {
      hist.ops++;
      const key = opts.keys[Math.floor(rand() * opts.keys.length)]!;
      const urls = opts.urls();
      const first = Math.floor(rand() * urls.length);
      let read: CartRead | undefined;
      let base = '';
      for (let i = 0; i < Math.min(3, urls.length) && read === undefined; i++) {
        base = urls[(first + i) % urls.length]!;
        read = await readCart(h, base, key, r).catch(() => undefined);
      }
      if (read === undefined) {
        hist.readFailures++;
        await sleep(100);
        continue;
      }
      const item = `c${c}-${seq}`;
      read.items.add(item);
      hist.attempted.set(item, key);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (read.context) headers['x-dynakv-context'] = read.context;
      try {
        const res = await call(h, `${base}/v1/kv/${encodeURIComponent(key)}?w=${w}&timeout=2000`, {
          method: 'PUT',
          headers,
          body: JSON.stringify({ items: [...read.items].sort() }),
        });
        if (res.status === 204) hist.acked.add(item);
        else if (res.status >= 400 && res.status < 500) hist.failed.add(item);
        else hist.indeterminate.add(item);
      } catch (err) {
        (definiteFailure(err) ? hist.failed : hist.indeterminate).add(item);
      }
      if (opts.thinkMs) await sleep(opts.thinkMs);
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, c) => client(c)));
  hist.elapsedMs = Date.now() - started;
  return hist;
}

export interface SetCheck {
  attempted: number;
  acknowledged: number;
  failed: number;
  indeterminate: number;
  found: number;
  /** Acknowledged but not found: must be 0. */
  lost: string[];
  /** Found but never attempted: must be 0. */
  unexpected: string[];
  /** Found though not acknowledged (indeterminate or failed writes that landed anyway). */
  recovered: string[];
  ok: boolean;
}

/** Jepsen's set checker over the final reads (key → items found). */
export function checkSet(hist: History, finalReads: Map<string, Set<string>>): SetCheck {
  const found = new Set<string>();
  const unexpected: string[] = [];
  for (const [key, items] of finalReads) {
    for (const item of items) {
      found.add(item);
      if (hist.attempted.get(item) !== key) unexpected.push(`${key}:${item}`);
    }
  }
  const lost = [...hist.acked].filter((i) => !finalReads.get(hist.attempted.get(i)!)?.has(i));
  const recovered = [...found].filter((i) => hist.attempted.has(i) && !hist.acked.has(i));
  return {
    attempted: hist.attempted.size,
    acknowledged: hist.acked.size,
    failed: hist.failed.size,
    indeterminate: hist.indeterminate.size,
    found: found.size,
    lost,
    unexpected,
    recovered,
    ok: lost.length === 0 && unexpected.length === 0,
  };
}

/** Final reads at r=all (retried, bounded), for the checker. */
export async function finalReads(h: Http, urls: string[], keys: string[], timeoutMs = 30_000): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const until = Date.now() + timeoutMs;
  for (const key of keys) {
    let lastErr: unknown;
    for (let i = 0; !out.has(key); i++) {
      try {
        out.set(key, (await readCart(h, urls[i % urls.length]!, key, 'all', 5_000)).items);
      } catch (err) {
        lastErr = err;
        if (Date.now() > until) throw new Error(`final read of ${key} at r=all failed: ${String(lastErr)}`);
        await sleep(500);
      }
    }
  }
  return out;
}

/** This node's own copy of a key, normalised for comparison (context + sorted sibling set), or 'absent'. */
export async function localCopy(h: Http, base: string, key: string): Promise<string> {
  const res = await call(h, `${base}/v1/admin/local/${encodeURIComponent(key)}`);
  if (res.status === 404) return 'absent';
  if (res.status !== 200) throw new Error(`local ${key} on ${base}: ${res.status}`);
  const env = JSON.parse(res.text) as { context: string; siblings: Array<Record<string, unknown>> };
  const sibs = env.siblings.map((s) => JSON.stringify([s.value, s.contentType, s.lastModified, s.deleted === true])).sort();
  return JSON.stringify({ context: env.context, siblings: sibs });
}

export interface Convergence {
  converged: boolean;
  ms: number;
  /** Keys whose primaries still differ (on timeout). */
  diverged: string[];
}

/**
 * Waits (no client reads: only hinted handoff and anti-entropy can help) until
 * every key's primaries hold equal objects. `urlOf(id)` maps a node id to a base URL.
 */
export async function waitConverged(h: Http, anyUrl: () => string, urlOf: (id: string) => string, keys: string[], timeoutMs: number): Promise<Convergence> {
  const started = Date.now();
  let diverged: string[] = keys;
  for (let round = 0; round < 10_000; round++) {
    diverged = [];
    for (const key of keys) {
      try {
        const pl = JSON.parse((await call(h, `${anyUrl()}/v1/cluster/preflist/${encodeURIComponent(key)}`)).text) as { primaries: string[] };
        const copies = await Promise.all(pl.primaries.map((id) => localCopy(h, urlOf(id), key)));
        if (copies.some((c) => c !== copies[0]) || copies[0] === 'absent') diverged.push(key);
      } catch {
        diverged.push(key);
      }
    }
    if (diverged.length === 0) return { converged: true, ms: Date.now() - started, diverged };
    if (Date.now() - started > timeoutMs) break;
    await sleep(1_000);
  }
  return { converged: false, ms: Date.now() - started, diverged };
}

export function summary(label: string, hist: History, check: SetCheck, faults: number, extra: Record<string, unknown> = {}): string {
  const rate = ((hist.ops * 1000) / Math.max(1, hist.elapsedMs)).toFixed(1);
  return (
    `${label}: ops=${hist.ops} (${rate}/s, read failures ${hist.readFailures}) faults=${faults} ` +
    `attempted=${check.attempted} acknowledged=${check.acknowledged} failed=${check.failed} indeterminate=${check.indeterminate} ` +
    `found=${check.found} lost=${check.lost.length} unexpected=${check.unexpected.length} recovered=${check.recovered.length}` +
    Object.entries(extra)
      .map(([k, v]) => ` ${k}=${String(v)}`)
      .join('')
  );
}
