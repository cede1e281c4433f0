import { DynakvError } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import type { DeleteOptions, GetOptions, PutOptions } from '../node/service.js';

/**
 * Parsing and validation of the public API's inputs (DESIGN §7): the key path
 * segment and the query parameters. Everything here is pure and cheap; any
 * defect is a DynakvError (`invalid_key` | `invalid_parameter`), thrown before
 * the service is called. Unknown query parameters are ignored.
 */

/** The query object fastify hands over: repeated parameters arrive as arrays. */
export type Query = Readonly<Record<string, string | string[] | undefined>> | undefined | null;

// ---------------------------------------------------------------------------
// Keys

/**
 * Validates an already-decoded key (fastify/find-my-way decode the path
 * segment and answer a malformed percent-encoding with FST_ERR_BAD_URL, which
 * the error layer maps to `invalid_key`). A key is 1..1024 bytes of
 * well-formed UTF-8: no lone surrogates. Returns the key.
 */
export function validateKey(key: string | undefined): string {
  if (key === undefined || key.length === 0) {
    throw new DynakvError('invalid_key', 'key must not be empty');
  }
  // A UTF-16 string of n code units has at most 3n UTF-8 bytes and at least n.
  if (key.length > LIMITS.keyBytesMax) {
    throw new DynakvError('invalid_key', `key exceeds ${LIMITS.keyBytesMax} bytes of UTF-8`);
  }
  let ascii = true;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) continue;
    ascii = false;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate must be followed by a low one; a low one must follow a high one.
      const next = c <= 0xdbff ? key.charCodeAt(i + 1) : NaN;
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new DynakvError('invalid_key', 'key is not valid UTF-8 (lone surrogate)');
      }
      i++;
    }
  }
  if (!ascii && key.length * 3 > LIMITS.keyBytesMax && Buffer.byteLength(key, 'utf8') > LIMITS.keyBytesMax) {
    throw new DynakvError('invalid_key', `key exceeds ${LIMITS.keyBytesMax} bytes of UTF-8`);
  }
  return key;
}

/**
 * Decodes a raw (still percent-encoded) path segment and validates it as a
 * key. Invalid percent-encoding or invalid UTF-8 (%FF, %C3 alone, encoded
 * surrogates) is `invalid_key`. Do not use on a value the router already decoded.
 */
export function decodeKey(encoded: string | undefined): string {
  if (encoded === undefined || encoded.length === 0) return validateKey(encoded);
  let key: string;
  if (encoded.indexOf('%') === -1) {
    key = encoded;
  } else {
    try {
      key = decodeURIComponent(encoded);
    } catch {
      throw new DynakvError('invalid_key', 'key is not valid percent-encoded UTF-8');
    }
  }
  return validateKey(key);
}

// ---------------------------------------------------------------------------
// Query parameters

const INTEGER = /^[0-9]{1,9}$/;

function single(query: Query, name: string): string | undefined {
  if (query === undefined || query === null) return undefined;
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') {
    throw new DynakvError('invalid_parameter', `query parameter ${name} given more than once`, { parameter: name });
  }
  return raw;
}

function invalid(name: string, raw: string, expected: string): DynakvError {
  return new DynakvError('invalid_parameter', `${name}=${truncate(raw)}: expected ${expected}`, { parameter: name });
}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

/** one=1, quorum=⌊N/2⌋+1, all=N; undefined when `raw` is none of the names. */
function named(raw: string, n: number): number | undefined {
  switch (raw) {
    case 'one':
      return 1;
    case 'quorum':
      return (n >> 1) + 1;
    case 'all':
      return n;
    default:
      return undefined;
  }
}

/** Parses `r` or `w`: one | quorum | all | integer 1..N. Default quorum. */
export function parseQuorum(raw: string | undefined, name: string, n: number): number {
  if (raw === undefined) return (n >> 1) + 1;
  const v = named(raw, n);
  if (v !== undefined) return v;
  if (INTEGER.test(raw)) {
    const i = Number(raw);
    if (i >= 1 && i <= n) return i;
  }
  throw invalid(name, raw, `one, quorum, all or an integer 1..${n}`);
}

/** Parses `pr` or `pw`: integer 0..N (or one | quorum | all). Default 0. */
export function parsePrimaryQuorum(raw: string | undefined, name: string, n: number): number {
  if (raw === undefined) return 0;
  const v = named(raw, n);
  if (v !== undefined) return v;
  if (INTEGER.test(raw)) {
    const i = Number(raw);
    if (i <= n) return i;
  }
  throw invalid(name, raw, `an integer 0..${n}, one, quorum or all`);
}

/** Parses `timeout` (ms): integer 1..LIMITS.requestTimeoutMsMax. */
export function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) return LIMITS.requestTimeoutMsDefault;
  if (INTEGER.test(raw)) {
    const i = Number(raw);
    if (i >= 1 && i <= LIMITS.requestTimeoutMsMax) return i;
  }
  throw invalid('timeout', raw, `an integer number of milliseconds 1..${LIMITS.requestTimeoutMsMax}`);
}

function parseBoolean(raw: string | undefined, name: string): boolean {
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw invalid(name, raw, 'true or false');
}

function parseRepair(raw: string | undefined): boolean {
  if (raw === undefined || raw === 'async') return false;
  if (raw === 'sync') return true;
  throw invalid('repair', raw, 'sync or async');
}

function checkPrimaries(p: number, pName: string, q: number, qName: string): void {
  if (p > q) {
    throw new DynakvError('invalid_parameter', `${pName}=${p} exceeds ${qName}=${q}`, { parameter: pName });
  }
}

/** GET/HEAD: `r`, `pr`, `timeout`, `repair`. */
export function parseGetOptions(query: Query, n: number): GetOptions {
  const r = parseQuorum(single(query, 'r'), 'r', n);
  const pr = parsePrimaryQuorum(single(query, 'pr'), 'pr', n);
  checkPrimaries(pr, 'pr', r, 'r');
  return {
    r,
    pr,
    timeoutMs: parseTimeout(single(query, 'timeout')),
    repairSync: parseRepair(single(query, 'repair')),
  };
}

export interface PutQuery extends PutOptions {
  /** `?returnbody=true`: answer as a GET of the written object would. */
  returnBody: boolean;
}

/** PUT: `w`, `pw`, `timeout`, `returnbody`. */
export function parsePutOptions(query: Query, n: number): PutQuery {
  const w = parseQuorum(single(query, 'w'), 'w', n);
  const pw = parsePrimaryQuorum(single(query, 'pw'), 'pw', n);
  checkPrimaries(pw, 'pw', w, 'w');
  return {
    w,
    pw,
    timeoutMs: parseTimeout(single(query, 'timeout')),
    returnBody: parseBoolean(single(query, 'returnbody'), 'returnbody'),
  };
}

/** DELETE: `w`, `pw`, `r`, `pr`, `timeout`. */
export function parseDeleteOptions(query: Query, n: number): DeleteOptions {
  const w = parseQuorum(single(query, 'w'), 'w', n);
  const pw = parsePrimaryQuorum(single(query, 'pw'), 'pw', n);
  checkPrimaries(pw, 'pw', w, 'w');
  const r = parseQuorum(single(query, 'r'), 'r', n);
  const pr = parsePrimaryQuorum(single(query, 'pr'), 'pr', n);
  checkPrimaries(pr, 'pr', r, 'r');
  return { w, pw, r, pr, timeoutMs: parseTimeout(single(query, 'timeout')) };
}

/**
 * The Content-Type a PUT stores: the request's header, or
 * application/octet-stream when absent or empty. Bounded, because replicas
 * reject longer ones on the wire.
 */
export function parseContentType(header: string | undefined): string {
  if (header === undefined) return 'application/octet-stream';
  const ct = header.trim();
  if (ct.length === 0) return 'application/octet-stream';
  if (ct.length > LIMITS.contentTypeBytesMax) {
    throw new DynakvError('invalid_parameter', `Content-Type exceeds ${LIMITS.contentTypeBytesMax} characters`, {
      parameter: 'content-type',
    });
  }
  return ct;
}
