import { Pool } from 'undici';
import { createHasher } from '../adapters/xxhash.js';
import { partitionOfHash, preferenceList, validateRing, type Preflist, type Ring } from '../core/ring/ring.js';
import { classifyTransportError } from './errors.js';

/**
 * What the client knows of the cluster: the ring, the members' API addresses
 * and which of them failed lately, one undici Pool per node, and the order in
 * which to try nodes for a key (token-aware routing).
 *
 * Everything here is an optimisation: any node accepts any request, so a stale
 * ring costs at most a forwarding hop, never a wrong answer.
 */

type Hasher = Awaited<ReturnType<typeof createHasher>>;

/** Header a node may send with its ring version; a different one makes the client refresh its ring. */
export const RING_VERSION_HEADER = 'x-dynakv-ring-version';

export interface TopologyOptions {
  tokenAware: boolean;
  connectionsPerNode: number;
  connectTimeoutMs: number;
  /** Timeout of one ring/members request. */
  refreshTimeoutMs: number;
  /** 0: no periodic refresh. */
  refreshPeriodMs: number;
}

/** One node, by base URL. */
interface Endpoint {
  readonly url: string;
  id: string | undefined;
  pool: Pool | undefined;
  /** Not preferred until then (ms since epoch), after a failure. */
  downUntil: number;
  /** Consecutive failures, for the backoff of downUntil. */
  failures: number;
  /** Member status as last reported (`alive`, `suspect`, `dead`, …); undefined for a seed not (yet) matched to a member. */
  status: string | undefined;
  /** Given by the user. */
  readonly seed: boolean;
}

/** The nodes to try for one request, best first, and which of them are primaries of the key. */
export interface Route {
  urls: string[];
  /** Base URLs of the key's primaries; undefined when the ring (or the key's placement) is unknown. */
  primaries: ReadonlySet<string> | undefined;
}

/** Where a key lives, as node ids. */
export interface Placement {
  partition: number;
  primaries: string[];
  fallbacks: string[];
}

const DOWN_BASE_MS = 1000;
const DOWN_MAX_MS = 10_000;
/** Refreshes triggered by failures or version changes are at least this far apart. */
const REFRESH_MIN_INTERVAL_MS = 1000;
/** Nodes asked per refresh at most. */
const REFRESH_NODES_MAX = 5;

/** Normalises a node address: `127.0.0.1:7001` or `http://127.0.0.1:7001/` → `http://127.0.0.1:7001`. */
export function normalizeUrl(node: string): string {
  const withScheme = /^https?:\/\//i.test(node) ? node : `http://${node}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`dynakv client: ${JSON.stringify(node)} is not a node URL (expected http://host:port)`);
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new TypeError(`dynakv client: node URL ${JSON.stringify(node)} must not have a path`);
  }
  return url.origin;
}

const UNSPECIFIED_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * A member's `api` (host:port, IPv6 hosts possibly unbracketed) as a base URL.
 * A wildcard host (0.0.0.0, ::) is replaced by the host of the node that
 * reported it, which is reachable by definition.
 */
export function memberUrl(api: string, reportedBy: string): string | undefined {
  const at = api.lastIndexOf(':');
  if (at < 0) return undefined;
  let host = api.slice(0, at);
  const port = api.slice(at + 1);
  if (!/^[0-9]{1,5}$/.test(port)) return undefined;
  if (UNSPECIFIED_HOSTS.has(host)) host = new URL(reportedBy).hostname;
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  try {
    return new URL(`http://${host}:${port}`).origin;
  } catch {
    return undefined;
  }
}

interface MemberJson {
  id: string;
  api: string;
  status: string;
  zone: string | undefined;
}

function parseMembers(input: unknown): MemberJson[] {
  if (!Array.isArray(input)) throw new Error('members: not an array');
  return input.map((m: unknown, i) => {
    if (typeof m !== 'object' || m === null) throw new Error(`members[${i}]: not an object`);
    const { id, api, status, zone } = m as Record<string, unknown>;
    if (typeof id !== 'string' || typeof api !== 'string') throw new Error(`members[${i}]: no id/api`);
    return {
      id,
      api,
      status: typeof status === 'string' ? status : 'alive',
      zone: typeof zone === 'string' ? zone : undefined,
    };
  });
}

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Statuses of members that do not serve: not tried unless nothing else is left. */
const GONE = new Set(['dead', 'left']);

export class Topology {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly byId = new Map<string, Endpoint>();
  private ring: Ring | undefined;
  private zones: ReadonlyMap<string, string> | undefined;
  private hasher: Hasher | undefined;
  private hasherLoading: Promise<void> | undefined;
  /** Preference lists per partition of the current ring. */
  private preflists: Array<Preflist | undefined> = [];
  private refreshing: Promise<boolean> | undefined;
  private lastRefreshAt = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private deferredRefresh: NodeJS.Timeout | undefined;
  private readonly initial: Promise<void>;
  private rr = 0;
  private closed = false;
  /** Ring refreshes that succeeded. */
  refreshes = 0;

  constructor(
    seeds: readonly string[],
    private readonly options: TopologyOptions,
  ) {
    for (const seed of seeds) {
      const url = normalizeUrl(seed);
      if (!this.endpoints.has(url)) this.endpoints.set(url, this.newEndpoint(url, true));
    }
    if (this.endpoints.size === 0) throw new TypeError('dynakv client: `nodes` must name at least one node');
    this.initial = Promise.all([this.loadHasher(), this.refresh()]).then(() => undefined);
    if (options.refreshPeriodMs > 0) {
      this.refreshTimer = setInterval(() => void this.refresh(), options.refreshPeriodMs);
      this.refreshTimer.unref();
    }
  }

  /** Resolves once the first ring fetch has been tried (succeeded or not) and the hasher is loaded. */
  async ready(): Promise<void> {
    await this.initial;
    // Still no ring (every seed was down at start): try again, at most once a second.
    if (this.ring === undefined && !this.closed && Date.now() - this.lastRefreshAt >= REFRESH_MIN_INTERVAL_MS) await this.refresh();
  }

  /** The current ring's version, if one is known. */
  get ringVersion(): number | undefined {
    return this.ring?.version;
  }

  /** The key's placement under the current ring (node ids), or undefined when no ring is known yet. */
  locate(key: string): Placement | undefined {
    const preflist = this.preflistOf(key);
    if (preflist === undefined) return undefined;
    return { partition: preflist.partition, primaries: [...preflist.primaries], fallbacks: [...preflist.fallbacks] };
  }

  /**
   * The nodes to try for a request on `key`, best first.
   * Token-aware: the key's primaries (for reads starting at a rotating one, so
   * reads spread over the replicas; for writes the first primary first), then
   * its fallbacks; healthy nodes before ones that failed lately or are reported
   * dead. Otherwise: every node, round-robin, healthy first.
   */
  route(key: string | undefined, kind: 'read' | 'write'): Route {
    const preflist = key === undefined ? undefined : this.preflistOf(key);
    const primaries = preflist === undefined ? undefined : this.urlsOf(preflist.primaries);
    const now = Date.now();
    let order: Endpoint[];
    if (this.options.tokenAware && preflist !== undefined) {
      const prim = this.endpointsOf(preflist.primaries);
      if (kind === 'read' && prim.length > 1) rotate(prim, this.rr++ % prim.length);
      order = [...prim, ...this.endpointsOf(preflist.fallbacks)];
      // Members the ring does not list yet (joining) and seeds not matched to a member, last.
      for (const e of this.candidates()) if (!order.includes(e)) order.push(e);
    } else {
      order = this.candidates();
      if (order.length > 1) rotate(order, this.rr++ % order.length);
    }
    const healthy = order.filter((e) => this.healthy(e, now));
    const rest = order.filter((e) => !this.healthy(e, now));
    return { urls: [...healthy, ...rest].map((e) => e.url), primaries: primaries === undefined ? undefined : new Set(primaries) };
  }

  /** Every node worth a try: members (or seeds while no member is known). */
  private candidates(): Endpoint[] {
    const members = [...this.endpoints.values()].filter((e) => e.id !== undefined);
    return members.length > 0 ? members : [...this.endpoints.values()];
  }

  private healthy(e: Endpoint, now: number): boolean {
    return e.downUntil <= now && (e.status === undefined || !GONE.has(e.status));
  }

  /** The pool of a node (made on first use). */
  pool(url: string): Pool {
    if (this.closed) throw new Error('dynakv client: closed');
    let e = this.endpoints.get(url);
    if (e === undefined) {
      e = this.newEndpoint(url, false);
      this.endpoints.set(url, e);
    }
    e.pool ??= new Pool(url, {
      connections: this.options.connectionsPerNode,
      connect: { timeout: this.options.connectTimeoutMs },
      // Idle connections are dropped well before a node's own keep-alive timeout
      // (60 s), so a write is never sent on a socket the node is closing.
      keepAliveTimeout: 4000,
      keepAliveMaxTimeout: 30_000,
    });
    return e.pool;
  }

  /** A node answered. */
  markUp(url: string): void {
    const e = this.endpoints.get(url);
    if (e !== undefined && e.failures > 0) {
      e.failures = 0;
      e.downUntil = 0;
    }
  }

  /** A node failed at the transport level: try others first for a while (1 s, doubling to 10 s), and refresh the ring. */
  markDown(url: string): void {
    const e = this.endpoints.get(url);
    if (e !== undefined) {
      e.failures++;
      e.downUntil = Date.now() + Math.min(DOWN_MAX_MS, DOWN_BASE_MS * 2 ** Math.min(e.failures - 1, 4));
    }
    this.refreshSoon();
  }

  /** A node told us its ring version: refresh when it differs from ours. */
  observeRingVersion(header: string | string[] | undefined): void {
    const raw = Array.isArray(header) ? header[0] : header;
    if (raw === undefined) return;
    const version = Number(raw);
    if (Number.isSafeInteger(version) && version !== this.ring?.version) this.refreshSoon();
  }

  /** A refresh now, or as soon as the minimum interval allows; never two at once. */
  refreshSoon(): void {
    if (this.closed || this.refreshing !== undefined || this.deferredRefresh !== undefined) return;
    const wait = this.lastRefreshAt + REFRESH_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      void this.refresh();
      return;
    }
    this.deferredRefresh = setTimeout(() => {
      this.deferredRefresh = undefined;
      void this.refresh();
    }, wait);
    this.deferredRefresh.unref();
  }

  /**
   * Fetches the ring and the members from one node (healthy members in random
   * order, then the seeds, then the rest), and adopts them. True on success.
   * Concurrent calls share one refresh.
   */
  refresh(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    this.lastRefreshAt = Date.now();
    const now = Date.now();
    const all = [...this.endpoints.values()];
    const order = [
      ...shuffled(all.filter((e) => e.id !== undefined && this.healthy(e, now))),
      ...all.filter((e) => e.seed),
      ...all.filter((e) => !this.healthy(e, now)),
    ];
    const tried = new Set<string>();
    for (const e of order) {
      if (tried.has(e.url)) continue;
      if (tried.size >= REFRESH_NODES_MAX || this.closed) break;
      tried.add(e.url);
      try {
        const [ring, members] = await Promise.all([this.getJson(e.url, '/v1/cluster/ring'), this.getJson(e.url, '/v1/cluster/members')]);
        this.adopt(validateRing(ring), parseMembers(members), e.url);
        this.markUp(e.url);
        this.refreshes++;
        return true;
      } catch (err) {
        if (this.closed) return false;
        if (err instanceof TransportError) {
          const ep = this.endpoints.get(e.url);
          if (ep !== undefined) {
            ep.failures++;
            ep.downUntil = Date.now() + Math.min(DOWN_MAX_MS, DOWN_BASE_MS * 2 ** Math.min(ep.failures - 1, 4));
          }
        }
        // A bad answer or an unreachable node: ask the next one.
      }
    }
    return false;
  }

  private async getJson(url: string, path: string): Promise<unknown> {
    let res;
    try {
      res = await this.pool(url).request({
        method: 'GET',
        path,
        headers: { accept: 'application/json' },
        headersTimeout: this.options.refreshTimeoutMs,
        bodyTimeout: this.options.refreshTimeoutMs,
      });
    } catch (err) {
      throw new TransportError(classifyTransportError(err), err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw new TransportError(classifyTransportError(err), err);
    }
    if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
    return JSON.parse(text) as unknown;
  }

  /** Adopts a ring (unless older than ours) and a member list fetched from `from`. */
  private adopt(ring: Ring, members: MemberJson[], from: string): void {
    if (this.ring === undefined || ring.version >= this.ring.version) {
      const zones = new Map<string, string>();
      for (const m of members) if (m.zone !== undefined) zones.set(m.id, m.zone); // as the nodes do
      this.zones = zones.size > 0 ? zones : undefined;
      this.ring = ring;
      this.preflists = new Array<Preflist | undefined>(ring.partitions);
    }
    const keep = new Set<string>();
    this.byId.clear();
    for (const m of members) {
      const url = memberUrl(m.api, from);
      if (url === undefined) continue;
      let e = this.endpoints.get(url);
      if (e === undefined) {
        e = this.newEndpoint(url, false);
        this.endpoints.set(url, e);
      }
      e.id = m.id;
      e.status = m.status;
      this.byId.set(m.id, e);
      keep.add(url);
    }
    // Nodes no longer listed: forget them (seeds stay, unmatched) and release their connections.
    for (const [url, e] of this.endpoints) {
      if (keep.has(url)) continue;
      e.id = undefined;
      e.status = undefined;
      if (!e.seed) {
        this.endpoints.delete(url);
        void e.pool?.close().catch(() => undefined);
      }
    }
  }

  private preflistOf(key: string): Preflist | undefined {
    const ring = this.ring;
    if (ring === undefined || this.hasher === undefined) return undefined;
    const partition = partitionOfHash(this.hasher.hash64(key), ring.partitions);
    let preflist = this.preflists[partition];
    if (preflist === undefined) {
      preflist = preferenceList(ring, partition, this.zones);
      this.preflists[partition] = preflist;
    }
    return preflist;
  }

  private endpointsOf(ids: readonly string[]): Endpoint[] {
    const out: Endpoint[] = [];
    for (const id of ids) {
      const e = this.byId.get(id);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  private urlsOf(ids: readonly string[]): string[] {
    return this.endpointsOf(ids).map((e) => e.url);
  }

  private newEndpoint(url: string, seed: boolean): Endpoint {
    return { url, id: undefined, pool: undefined, downUntil: 0, failures: 0, status: undefined, seed };
  }

  private loadHasher(): Promise<void> {
    this.hasherLoading ??= createHasher().then((h) => {
      this.hasher = h;
    });
    return this.hasherLoading;
  }

  /** Stops the refresh timers and closes every pool (waiting for requests in flight). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    if (this.deferredRefresh !== undefined) clearTimeout(this.deferredRefresh);
    const pools = [...this.endpoints.values()].flatMap((e) => (e.pool === undefined ? [] : [e.pool]));
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
    await this.refreshing?.catch(() => undefined);
  }
}

/** A ring/members request that got no HTTP answer. */
class TransportError extends Error {
  constructor(
    readonly kind: string,
    cause: unknown,
  ) {
    super(`transport failure: ${kind}`, { cause });
  }
}

function rotate<T>(items: T[], by: number): void {
  if (by === 0) return;
  const head = items.splice(0, by);
  items.push(...head);
}
