import { setTimeout as sleep } from 'node:timers/promises';
import {
  classifyTransportError,
  clientError,
  DynakvError,
  errorFromResponse,
  unavailable,
  type TransportFailure,
} from './errors.js';
import {
  consistencyParam,
  keyPath,
  positiveInt,
  queryString,
  timeoutParam,
  type ClientOptions,
  type Consistency,
  type DeleteOptions,
  type GetOptions,
  type PrimaryConsistency,
  type PutOptions,
  type UpdateOptions,
} from './options.js';
import { RING_VERSION_HEADER, Topology, type Placement } from './topology.js';
import {
  BYTES_CONTENT_TYPE,
  encodeValue,
  ENVELOPE_MEDIA_TYPE,
  makeGetResult,
  makeSibling,
  parseEnvelope,
  type GetResult,
  type PutValue,
  type Sibling,
} from './values.js';

/** Header carrying the opaque causal context, both ways. */
const CONTEXT_HEADER = 'x-dynakv-context';
const TIMEOUT_DEFAULT_MS = 5000;
/** Reads give up on timeouts / lost connections after this many nodes (connection refusals do not count). */
const READ_SLOW_FAILURES_MAX = 2;
const UPDATE_BACKOFF_MAX_MS = 1000;
const RETRY_AFTER_MAX_MS = 5000;

/** The result of a write (`put`, `delete`, `update`). */
export interface WriteResult {
  /** The context of the object as written: pass it to a next write to replace this one. */
  readonly context: string | undefined;
}

/** The result of `update()`. */
export interface UpdateResult extends WriteResult {
  /** Read-resolve-write rounds it took (1 unless a round failed with a retryable error). */
  readonly attempts: number;
  /** False when the resolver returned `undefined` (nothing was written). */
  readonly written: boolean;
}

/**
 * Merges the siblings of a read into the value to write back. Called with an
 * empty array when the key does not exist. Return `undefined` to write nothing.
 *
 * It may be called more than once per `update()` (each retry re-reads), and
 * may then see its own earlier, partly applied write: make it idempotent in
 * its intent ("item X is in the cart", not "append X").
 */
export type Resolver = (siblings: readonly Sibling[], read: GetResult) => PutValue | undefined | Promise<PutValue | undefined>;

/** Counters of a client, for benchmarks and debugging. Request counts include fail-over attempts. */
export interface ClientStats {
  /** Key requests (GET/PUT/DELETE) sent to a node. */
  requests: number;
  /** … of which to one of the key's primaries (no forwarding hop). */
  toPrimary: number;
  /** … of which to a node outside the key's primaries: a write needs a forwarding hop, a read is coordinated by a non-replica. */
  toNonPrimary: number;
  /** … of which sent before the ring was known (placement unknown). */
  unplaced: number;
  /** Attempts after the first one of a request (fail-over to another node). */
  failovers: number;
  /** Successful ring/members refreshes. */
  ringRefreshes: number;
  /** Version of the ring in use, if one is known. */
  ringVersion: number | undefined;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  node: string;
}

interface Call {
  kind: 'read' | 'write';
  key: string;
  method: 'GET' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A dynakv client: key operations with per-call consistency, token-aware
 * routing, fail-over and bounded retries. One client per process is enough (it
 * pools connections per node); `close()` it when done.
 *
 * ```ts
 * const db = new Client({ nodes: ['http://127.0.0.1:7001'] });
 * const got = await db.get('cart:42');
 * await db.put('cart:42', { items: ['book'] }, { context: got.context });
 * await db.close();
 * ```
 */
export class Client {
  private readonly topology: Topology;
  private readonly defaults: { r?: Consistency; w?: Consistency; pr?: PrimaryConsistency; pw?: PrimaryConsistency };
  private readonly timeoutMs: number;
  private readonly slackMs: number;
  private readonly updateAttempts: number;
  private readonly updateBackoffMs: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private counters = { requests: 0, toPrimary: 0, toNonPrimary: 0, unplaced: 0, failovers: 0 };

  /**
   * Starts learning the cluster from `options.nodes` right away (requests wait
   * for the first attempt). Throws TypeError for malformed options, and a
   * DynakvError `invalid_parameter` for a malformed default quorum or timeout.
   */
  constructor(options: ClientOptions) {
    if (options === null || typeof options !== 'object' || !Array.isArray(options.nodes)) {
      throw new TypeError('dynakv client: options.nodes must be an array of node URLs');
    }
    consistencyParam('r', options.r, 1);
    consistencyParam('w', options.w, 1);
    consistencyParam('pr', options.pr, 0);
    consistencyParam('pw', options.pw, 0);
    this.defaults = { r: options.r, w: options.w, pr: options.pr, pw: options.pw };
    this.timeoutMs = timeoutParam(options.timeoutMs, TIMEOUT_DEFAULT_MS);
    this.slackMs = positiveInt('timeoutSlackMs', options.timeoutSlackMs, 2000, 0);
    this.updateAttempts = positiveInt('updateAttempts', options.updateAttempts, 5);
    this.updateBackoffMs = positiveInt('updateBackoffMs', options.updateBackoffMs, 25, 0);
    this.topology = new Topology(options.nodes, {
      tokenAware: options.tokenAware ?? true,
      connectionsPerNode: positiveInt('connectionsPerNode', options.connectionsPerNode, 8),
      connectTimeoutMs: positiveInt('connectTimeoutMs', options.connectTimeoutMs, 2000),
      refreshTimeoutMs: 2000,
      refreshPeriodMs: positiveInt('ringRefreshMs', options.ringRefreshMs, 10_000, 0),
    });
  }

  /**
   * Reads a key at `r` (`pr`). A missing or deleted key is `{ found: false,
   * siblings: [] }` (with the tombstone's context when one is known), not an error.
   */
  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const timeoutMs = timeoutParam(options.timeoutMs, this.timeoutMs);
    const query = queryString({
      r: consistencyParam('r', options.r ?? this.defaults.r, 1),
      pr: consistencyParam('pr', options.pr ?? this.defaults.pr, 0),
      timeout: timeoutMs,
    });
    const reply = await this.send({
      kind: 'read',
      key,
      method: 'GET',
      path: keyPath(key) + query,
      headers: { accept: ENVELOPE_MEDIA_TYPE },
      timeoutMs,
    });
    const context = header(reply.headers, CONTEXT_HEADER);
    if (reply.status === 200 || reply.status === 300) return makeGetResult(key, this.siblingsOf(reply), context);
    const error = errorFromResponse(reply.status, reply.headers, reply.body, reply.node);
    if (error.code === 'not_found') return makeGetResult(key, [], context);
    throw error;
  }

  /**
   * Writes a value at `w` (`pw`). With `context` (from a read) the write
   * replaces exactly the versions that read saw; without it, it becomes a
   * sibling of whatever is stored. Strings are stored as
   * `text/plain; charset=utf-8`, bytes as `application/octet-stream`, anything
   * else as JSON (`application/json`); `contentType` overrides.
   *
   * Never retried after it may have reached a node: on `quorum_not_met` or an
   * `unavailable` with `details.maybeApplied`, the write may be partly applied.
   */
  async put(key: string, value: PutValue, options: PutOptions = {}): Promise<WriteResult> {
    const timeoutMs = timeoutParam(options.timeoutMs, this.timeoutMs);
    const query = queryString({
      w: consistencyParam('w', options.w ?? this.defaults.w, 1),
      pw: consistencyParam('pw', options.pw ?? this.defaults.pw, 0),
      timeout: timeoutMs,
    });
    const path = keyPath(key) + query;
    let encoded: { body: Buffer; contentType: string };
    try {
      encoded = encodeValue(value, options.contentType);
    } catch (err) {
      throw clientError('invalid_parameter', err instanceof Error ? err.message : String(err), { parameter: 'value' });
    }
    const headers: Record<string, string> = { 'content-type': encoded.contentType };
    if (options.context !== undefined && options.context !== '') headers[CONTEXT_HEADER] = options.context;
    const reply = await this.send({ kind: 'write', key, method: 'PUT', path, headers, body: encoded.body, timeoutMs });
    if (reply.status >= 200 && reply.status < 300) return { context: header(reply.headers, CONTEXT_HEADER) || undefined };
    throw errorFromResponse(reply.status, reply.headers, reply.body, reply.node);
  }

  /**
   * Deletes a key (writes a tombstone) at `w` (`pw`). With `context` it deletes
   * what that read saw (a concurrent write survives as a sibling); without it
   * the node reads at `r` (`pr`) and deletes that. Deleting a missing key succeeds.
   */
  async delete(key: string, options: DeleteOptions = {}): Promise<WriteResult> {
    const timeoutMs = timeoutParam(options.timeoutMs, this.timeoutMs);
    const query = queryString({
      w: consistencyParam('w', options.w ?? this.defaults.w, 1),
      pw: consistencyParam('pw', options.pw ?? this.defaults.pw, 0),
      r: consistencyParam('r', options.r ?? this.defaults.r, 1),
      pr: consistencyParam('pr', options.pr ?? this.defaults.pr, 0),
      timeout: timeoutMs,
    });
    const headers: Record<string, string> = {};
    if (options.context !== undefined && options.context !== '') headers[CONTEXT_HEADER] = options.context;
    const reply = await this.send({ kind: 'write', key, method: 'DELETE', path: keyPath(key) + query, headers, timeoutMs });
    if (reply.status >= 200 && reply.status < 300) return { context: header(reply.headers, CONTEXT_HEADER) || undefined };
    throw errorFromResponse(reply.status, reply.headers, reply.body, reply.node);
  }

  /**
   * Read-modify-write: reads the key (`r`, `pr`), calls `resolve(siblings)`
   * (an empty array when the key does not exist), and writes the result with
   * the read's context (`w`, `pw`), so the write replaces every sibling it merged.
   *
   * Retries, with exponential backoff and jitter, up to `attempts` rounds, on
   * `quorum_not_met`, `overloaded` (after `Retry-After`) and `unavailable`: a
   * failed read is simply read again; a failed write may be partly applied, so
   * the round starts over with a fresh read and a fresh `resolve()` rather
   * than blindly re-sending the write. Other errors are thrown at once.
   */
  async update(key: string, resolve: Resolver, options: UpdateOptions = {}): Promise<UpdateResult> {
    const attempts = positiveInt('attempts', options.attempts, this.updateAttempts);
    const readOptions: GetOptions = { r: options.r, pr: options.pr, timeoutMs: options.timeoutMs };
    const writeOptions: PutOptions = { w: options.w, pw: options.pw, timeoutMs: options.timeoutMs, contentType: options.contentType };
    for (let attempt = 1; ; attempt++) {
      try {
        const read = await this.get(key, readOptions);
        const value = await resolve(read.siblings, read);
        if (value === undefined) return { context: read.context, attempts: attempt, written: false };
        const written = await this.put(key, value, { ...writeOptions, context: read.context });
        return { context: written.context, attempts: attempt, written: true };
      } catch (err) {
        if (attempt >= attempts || !this.retryable(err)) throw err;
        await sleep(this.backoffMs(attempt, err));
      }
    }
  }

  /** Where a key lives under the client's current ring (node ids), or undefined while no ring is known. */
  async locate(key: string): Promise<Placement | undefined> {
    keyPath(key);
    await this.topology.ready();
    return this.topology.locate(key);
  }

  /** Fetches the ring and the members now (otherwise done every `ringRefreshMs` and after failures). True on success. */
  refresh(): Promise<boolean> {
    return this.topology.refresh();
  }

  /** A snapshot of the client's counters. */
  stats(): ClientStats {
    return { ...this.counters, ringRefreshes: this.topology.refreshes, ringVersion: this.topology.ringVersion };
  }

  /** Zeroes the request counters (not the ring refresh count). */
  resetStats(): void {
    this.counters = { requests: 0, toPrimary: 0, toNonPrimary: 0, unplaced: 0, failovers: 0 };
  }

  /**
   * Stops the ring refresh and closes every connection, after the requests in
   * flight finish. Later calls reject with `unavailable` (`reason: 'closed'`). Idempotent.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.topology.close();
    return this.closing;
  }

  private siblingsOf(reply: Reply): Sibling[] {
    const type = header(reply.headers, 'content-type') ?? '';
    if (type.includes(ENVELOPE_MEDIA_TYPE) || reply.status === 300) {
      try {
        return parseEnvelope(reply.body).siblings;
      } catch (err) {
        throw new DynakvError('internal', `malformed sibling envelope from ${reply.node}: ${(err as Error).message}`, reply.status, {
          node: reply.node,
        });
      }
    }
    // A node that ignored Accept: one raw value.
    const modified = Date.parse(header(reply.headers, 'last-modified') ?? '');
    return [makeSibling(reply.body, type === '' ? BYTES_CONTENT_TYPE : type, new Date(Number.isNaN(modified) ? 0 : modified))];
  }

  private retryable(err: unknown): boolean {
    if (!(err instanceof DynakvError)) return false;
    if (err.code === 'unavailable') return err.details.reason !== 'closed';
    return err.code === 'quorum_not_met' || err.code === 'overloaded';
  }

  private backoffMs(attempt: number, err: unknown): number {
    const cap = Math.min(UPDATE_BACKOFF_MAX_MS, this.updateBackoffMs * 2 ** (attempt - 1));
    const jittered = cap / 2 + Math.random() * (cap / 2);
    const retryAfter = err instanceof DynakvError ? err.details.retryAfterSeconds : undefined;
    if (typeof retryAfter === 'number' && Number.isFinite(retryAfter)) return Math.max(jittered, Math.min(RETRY_AFTER_MAX_MS, retryAfter * 1000));
    return jittered;
  }

  /**
   * Sends one key request, failing over along the route:
   * - a refused connection (nothing sent): next node, for any request;
   * - a timeout or a connection lost mid-request: next node for reads (at
   *   most {@link READ_SLOW_FAILURES_MAX} such failures); for writes it is
   *   final (`unavailable` with `maybeApplied: true`), since the node may
   *   have applied the write;
   * - `overloaded`: next node, for reads and writes alike (a node answers
   *   it before it takes any part in the request: shedding load, still
   *   joining, or gone from the cluster);
   * - any other HTTP answer is returned as it is.
   */
  private async send(call: Call): Promise<Reply> {
    if (this.closed) throw unavailable('the client is closed', { reason: 'closed' });
    await this.topology.ready();
    if (this.closed) throw unavailable('the client is closed', { reason: 'closed' });
    const route = this.topology.route(call.key, call.kind);
    let last: DynakvError | undefined;
    let slowFailures = 0;
    for (let i = 0; i < route.urls.length; i++) {
      const url = route.urls[i]!;
      this.count(url, route.primaries, i);
      let reply: Reply;
      try {
        reply = await this.attempt(url, call);
      } catch (err) {
        if (this.closed) throw unavailable('the client is closed', { reason: 'closed' }, err);
        const failure: TransportFailure = classifyTransportError(err);
        this.topology.markDown(url);
        const maybeApplied = call.kind === 'write' && failure !== 'connect';
        last = unavailable(
          `${call.method} ${call.key}: ${describeFailure(failure)} ${url}${maybeApplied ? ' (the write may have been applied)' : ''}`,
          { reason: failure, node: url, maybeApplied },
          err,
        );
        if (maybeApplied) throw last;
        if (failure !== 'connect' && ++slowFailures >= READ_SLOW_FAILURES_MAX) break;
        continue;
      }
      this.topology.markUp(url);
      this.topology.observeRingVersion(reply.headers[RING_VERSION_HEADER]);
      if (reply.status === 503 && i + 1 < route.urls.length) {
        const error = errorFromResponse(reply.status, reply.headers, reply.body, reply.node);
        if (error.code === 'overloaded') {
          last = error;
          continue;
        }
      }
      return reply;
    }
    throw last ?? unavailable(`${call.method} ${call.key}: no node to send it to`, { reason: 'no_nodes' });
  }

  private async attempt(url: string, call: Call): Promise<Reply> {
    const deadline = call.timeoutMs + this.slackMs;
    const res = await this.topology.pool(url).request({
      method: call.method,
      path: call.path,
      headers: call.headers,
      body: call.body ?? null,
      headersTimeout: deadline,
      bodyTimeout: deadline,
    });
    const body = new Uint8Array(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body, node: url };
  }

  private count(url: string, primaries: ReadonlySet<string> | undefined, attempt: number): void {
    const c = this.counters;
    c.requests++;
    if (attempt > 0) c.failovers++;
    if (primaries === undefined) c.unplaced++;
    else if (primaries.has(url)) c.toPrimary++;
    else c.toNonPrimary++;
  }
}

function describeFailure(failure: TransportFailure): string {
  switch (failure) {
    case 'connect':
      return 'could not connect to';
    case 'timeout':
      return 'no answer in time from';
    case 'connection_lost':
      return 'connection lost to';
  }
}
