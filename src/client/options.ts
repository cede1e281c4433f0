import { clientError } from './errors.js';

/**
 * Options of the client and of each call, their client-side validation (shape
 * only: bounds that depend on N, such as `w` ≤ N or `pr` ≤ `r`, are checked by
 * the node, which answers `invalid_parameter`), and the query strings they become.
 */

/**
 * How many replicas must answer: `one` (1), `quorum` (⌊N/2⌋+1), `all` (N), or
 * an integer 1..N. N is the cluster's replication factor.
 */
export type Consistency = 'one' | 'quorum' | 'all' | number;

/**
 * How many of the answering replicas must be primaries (not fallbacks): an
 * integer 0..N (0 = no requirement) or `one` | `quorum` | `all`.
 */
export type PrimaryConsistency = Consistency;

/** Options of the {@link Client} constructor. */
export interface ClientOptions {
  /**
   * Base URLs of one or more nodes to learn the cluster from, e.g.
   * `http://127.0.0.1:7001` (`127.0.0.1:7001` works too). The client finds the
   * other nodes itself; give several so it can start while one is down.
   */
  nodes: readonly string[];
  /** Default read quorum (default `quorum`). */
  r?: Consistency;
  /** Default write quorum (default `quorum`). */
  w?: Consistency;
  /** Default primary read quorum (default: the node's, 0). */
  pr?: PrimaryConsistency;
  /** Default primary write quorum (default: the node's, 0). */
  pw?: PrimaryConsistency;
  /**
   * Default per-request timeout in ms (default 5000, the node accepts 1..60000).
   * Sent to the node as `timeout` (it answers `quorum_not_met` when replicas are
   * late); the client itself gives up {@link ClientOptions.timeoutSlackMs} later.
   */
  timeoutMs?: number;
  /**
   * Send each request to a node of the key's preference list, computed locally
   * from the ring (default true). Off: requests go round-robin to all nodes, and a
   * node outside the preference list forwards writes (one more hop).
   */
  tokenAware?: boolean;
  /** Connections per node (undici Pool `connections`; default 8). */
  connectionsPerNode?: number;
  /** TCP connect timeout in ms (default 2000). */
  connectTimeoutMs?: number;
  /** Extra time beyond `timeoutMs` the client waits for an answer before giving up on a node (default 2000). */
  timeoutSlackMs?: number;
  /** Period of the ring/members refresh in ms (default 10000; 0 turns the periodic refresh off). */
  ringRefreshMs?: number;
  /** Attempts of `update()` before its last error is thrown (default 5). */
  updateAttempts?: number;
  /** First backoff of `update()` retries in ms, doubled each attempt, with jitter (default 25). */
  updateBackoffMs?: number;
}

/** Per-call options shared by every key operation. */
export interface CallOptions {
  /** Timeout of this call in ms (overrides the client's `timeoutMs`). */
  timeoutMs?: number;
}

/** Options of `get()`. */
export interface GetOptions extends CallOptions {
  r?: Consistency;
  pr?: PrimaryConsistency;
}

/** Options of `put()`. */
export interface PutOptions extends CallOptions {
  /** The context of the read this write is based on; without it the write becomes a sibling of whatever is stored. */
  context?: string | undefined;
  w?: Consistency;
  pw?: PrimaryConsistency;
  /** Content type to store (default: from the value's type, see PutValue). */
  contentType?: string;
}

/** Options of `delete()`. */
export interface DeleteOptions extends CallOptions {
  /** The context of the read this delete is based on; without it the node reads at `r` and deletes what it saw. */
  context?: string | undefined;
  w?: Consistency;
  pw?: PrimaryConsistency;
  r?: Consistency;
  pr?: PrimaryConsistency;
}

/** Options of `update()`: the read's, the write's, and the retry bound. */
export interface UpdateOptions extends CallOptions {
  r?: Consistency;
  pr?: PrimaryConsistency;
  w?: Consistency;
  pw?: PrimaryConsistency;
  /** Content type to store (default: from the value's type). */
  contentType?: string;
  /** Read-resolve-write attempts before giving up (default: the client's `updateAttempts`, 5). */
  attempts?: number;
}

const NAMES = new Set(['one', 'quorum', 'all']);

/** Checks one quorum option's shape; returns its query-string form. */
export function consistencyParam(name: string, value: Consistency | undefined, min: 0 | 1): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && NAMES.has(value)) return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= 1e9) return String(value);
  throw clientError(
    'invalid_parameter',
    `${name}=${String(value)}: expected one, quorum, all or an integer ${min === 0 ? '0' : '1'}..N`,
    { parameter: name },
  );
}

/** Checks a timeout option; returns it. */
export function timeoutParam(value: number | undefined, fallback: number): number {
  const t = value ?? fallback;
  if (!Number.isInteger(t) || t < 1) {
    throw clientError('invalid_parameter', `timeoutMs=${String(t)}: expected a positive integer number of milliseconds`, {
      parameter: 'timeout',
    });
  }
  return t;
}

/** Checks a positive integer client option. */
export function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new TypeError(`dynakv client: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** Builds a query string from the defined entries (`?a=1&b=2`, or '' when none). */
export function queryString(params: Record<string, string | number | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    out += `${out === '' ? '?' : '&'}${k}=${encodeURIComponent(String(v))}`;
  }
  return out;
}

const KEY_BYTES_MAX = 1024;

/**
 * The key's path on the API (`/v1/kv/<percent-encoded key>`), after the same
 * checks the node makes: 1..1024 bytes of well-formed UTF-8 (no lone surrogates).
 */
export function keyPath(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw clientError('invalid_key', 'key must be a non-empty string');
  let encoded: string;
  try {
    encoded = encodeURIComponent(key);
  } catch {
    throw clientError('invalid_key', 'key is not valid UTF-8 (lone surrogate)');
  }
  // n UTF-16 code units are at most 3n bytes of UTF-8: only long keys need counting.
  if (key.length * 3 > KEY_BYTES_MAX && Buffer.byteLength(key, 'utf8') > KEY_BYTES_MAX) {
    throw clientError('invalid_key', `key exceeds ${KEY_BYTES_MAX} bytes of UTF-8`);
  }
  return `/v1/kv/${encoded}`;
}
