import { ERROR_STATUS, isErrorCode, type ErrorCode } from '../core/errors.js';

/**
 * Errors of the client SDK.
 *
 * Every failure the SDK reports is a {@link DynakvError}: either the error a
 * node answered with (its JSON `{"error":{"code","message",...}}`, code and
 * HTTP status as documented in the HTTP API), or `unavailable`, raised by the
 * client itself when no node gave an HTTP answer at all.
 */

/**
 * The codes a {@link DynakvError} can carry: the HTTP API's codes, plus the
 * client-side `unavailable`.
 *
 * | code | status | meaning |
 * |---|---|---|
 * | `invalid_key` | 400 | key empty, longer than 1024 bytes of UTF-8, or not valid UTF-8 (checked client-side too) |
 * | `invalid_parameter` | 400 | a bad option (`w` > N, `pr` > `r`, bad `timeoutMs` …); shape checked client-side, bounds by the node |
 * | `invalid_context` | 400 | the context is not one this store issued for this key |
 * | `value_too_large` | 413 | value above the node's `--max-value-bytes` |
 * | `too_many_siblings` | 409 | resolve the siblings first (write with a read's context) |
 * | `quorum_not_met` | 503 | fewer than `details.required` replicas answered (`details.acknowledged` did); **a write may be partly applied** |
 * | `overloaded` | 503 | the node sheds load; `details.retryAfterSeconds` from `Retry-After` |
 * | `not_found` | 404 | only from operations other than `get()` (a missing key is `found: false`, not an error) |
 * | `unauthorized` | 401 | reserved for authenticated deployments |
 * | `internal` | 500 | a bug in a node, or an answer the client could not understand |
 * | `unavailable` | 0 | client-side: no node gave an HTTP answer (every candidate refused the connection, timed out or dropped it), or the client is closed. `details.reason` says which; `details.maybeApplied` is true when a write may have reached a node before the failure |
 */
export type DynakvErrorCode = ErrorCode | 'unavailable';

/** Extra fields of an error: whatever the node's error JSON carried besides `code` and `message`. */
export interface DynakvErrorDetails {
  /** `quorum_not_met`: replicas the request needed. */
  required?: number;
  /** `quorum_not_met`: replicas that answered in time. */
  acknowledged?: number;
  /** `overloaded`: seconds to wait, from the `Retry-After` header. */
  retryAfterSeconds?: number;
  /** `invalid_parameter`: the offending parameter. */
  parameter?: string;
  /** `unavailable`: why no answer came (`connect`, `timeout`, `connection_lost`, `closed`, `no_nodes`). */
  reason?: string;
  /** `unavailable`: whether a write may have been (partly) applied although no answer came. */
  maybeApplied?: boolean;
  /** The node (base URL) whose answer or failure this is, when one is known. */
  node?: string;
  [field: string]: unknown;
}

/** An error of a dynakv operation. Check `code`; `status` is the HTTP status (0 for `unavailable`). */
export class DynakvError extends Error {
  override name = 'DynakvError';
  /** The error code: one of the API's codes, or `unavailable` (client-side). */
  readonly code: DynakvErrorCode;
  /** The HTTP status the node answered with; 0 when no HTTP answer came (`unavailable`). */
  readonly status: number;
  /** Extra fields (`required`/`acknowledged` for `quorum_not_met`, `retryAfterSeconds`, …). */
  readonly details: DynakvErrorDetails;

  constructor(code: DynakvErrorCode, message: string, status: number, details: DynakvErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** Thrown by `text()`/`json()` of a read that does not hold exactly one sibling. */
export class SiblingsError extends Error {
  override name = 'SiblingsError';
  constructor(
    /** The key read. */
    readonly key: string,
    /** How many siblings the read returned (0 when the key was not found). */
    readonly count: number,
  ) {
    super(
      count === 0
        ? `key ${JSON.stringify(key)} was not found: there is no value to decode`
        : `key ${JSON.stringify(key)} has ${count} siblings: read them from .siblings and resolve them (e.g. with update()) instead of calling text()/json()`,
    );
  }
}

/** Status of each code, for answers that lack one and for errors made client-side. */
export const STATUS_OF: Readonly<Record<DynakvErrorCode, number>> = { ...ERROR_STATUS, unavailable: 0 };

/** A client-side validation error, shaped like the node's own. */
export function clientError(code: 'invalid_key' | 'invalid_parameter', message: string, details: DynakvErrorDetails = {}): DynakvError {
  return new DynakvError(code, message, STATUS_OF[code], details);
}

/** Best guess of a code for an HTTP error answer that is not the API's JSON (a proxy, an old node). */
function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'invalid_parameter';
    case 401:
    case 403:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 409:
      return 'too_many_siblings';
    case 413:
      return 'value_too_large';
    case 429:
    case 503:
      return 'overloaded';
    default:
      return 'internal';
  }
}

function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return undefined;
  const seconds = Number(raw.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

/**
 * The DynakvError for an HTTP error answer: the API's JSON error when the body
 * is one (every field but code/message becomes a detail), else a code guessed
 * from the status.
 */
export function errorFromResponse(status: number, headers: Record<string, string | string[] | undefined>, body: Uint8Array, node: string): DynakvError {
  let code: ErrorCode | undefined;
  let message = '';
  const details: DynakvErrorDetails = {};
  try {
    const parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as unknown;
    const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
    if (typeof error === 'object' && error !== null) {
      const fields = error as Record<string, unknown>;
      if (isErrorCode(fields.code)) code = fields.code;
      if (typeof fields.message === 'string') message = fields.message;
      for (const [k, v] of Object.entries(fields)) if (k !== 'code' && k !== 'message') details[k] = v;
    }
  } catch {
    // not the API's JSON: fall back to the status
  }
  code ??= codeOfStatus(status);
  if (message === '') message = `HTTP ${status} from ${node}`;
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (retryAfter !== undefined && details.retryAfterSeconds === undefined) details.retryAfterSeconds = retryAfter;
  details.node = node;
  return new DynakvError(code, message, status, details);
}

/** `unavailable`, made client-side. */
export function unavailable(message: string, details: DynakvErrorDetails, cause?: unknown): DynakvError {
  return new DynakvError('unavailable', message, 0, details, cause === undefined ? undefined : { cause });
}

/** Network error codes raised while connecting: the request provably never left the client. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  // The pool was closed or destroyed before dispatching the request.
  'UND_ERR_DESTROYED',
  'UND_ERR_CLOSED',
]);

/** How a request that got no HTTP answer failed. */
export type TransportFailure =
  /** The connection could not be made: nothing was sent, any request may be retried elsewhere. */
  | 'connect'
  /** No answer within the deadline: the node may have applied the request. */
  | 'timeout'
  /** The connection broke after (part of) the request was sent: it may have been applied. */
  | 'connection_lost';

/** Classifies an error thrown by undici's `request` (see {@link TransportFailure}). */
export function classifyTransportError(err: unknown): TransportFailure {
  const e = err as { code?: unknown; syscall?: unknown } | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NOT_SENT_CODES.has(code)) return 'connect';
  // Node's net errors raised by connect(2) itself (EHOSTUNREACH, ENETUNREACH, …).
  if (e?.syscall === 'connect') return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return 'timeout';
  }
  return 'connection_lost';
}
