import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DynakvError, ERROR_CODES, ERROR_STATUS, isErrorCode, type ErrorCode, type ErrorDetails } from '../core/errors.js';

/**
 * The one registry of error codes → HTTP statuses (DESIGN §7), the JSON error
 * body `{"error":{"code","message",...details}}`, and the mapping of fastify's
 * own failures (body too large, unparsable request, unknown route) onto codes.
 */

export { ERROR_STATUS };

/** One line per code, for README's error table. */
export const ERROR_DESCRIPTIONS: Record<ErrorCode, string> = {
  invalid_key: 'the key is empty, longer than 1024 bytes, or not valid UTF-8 / percent-encoding',
  invalid_parameter: 'a query parameter or header is malformed or out of range (e.g. `w` > N, `pr` > `r`, `timeout=0`)',
  invalid_context: 'the `X-Dynakv-Context` header is not a context this store issued for this key',
  value_too_large: 'the body exceeds the value size limit (default 1 MiB, `--max-value-bytes`)',
  too_many_siblings: 'the key already holds the maximum number of siblings; write with a read\'s context to resolve them',
  quorum_not_met: 'fewer than `required` replicas answered in time (`acknowledged` did); a write may be partly applied',
  overloaded: 'the node is shedding load; retry after the `Retry-After` header\'s seconds',
  not_found: 'no such key (absent or deleted), or no such route',
  unauthorized: 'the request lacks valid credentials',
  internal: 'a bug or an unexpected failure in the node; details are in its log',
};

/** README error table rows: "| `code` | status | meaning |", one per code, in ERROR_CODES order. */
export function errorTableRows(): string[] {
  return ERROR_CODES.map((code) => `| \`${code}\` | ${ERROR_STATUS[code]} | ${ERROR_DESCRIPTIONS[code]} |`);
}

/** The whole README error table, header included. */
export function renderErrorTable(): string {
  return ['| code | status | meaning |', '|---|---|---|', ...errorTableRows()].join('\n');
}

export function isDynakvError(err: unknown): err is DynakvError {
  if (err instanceof DynakvError) return true;
  // A DynakvError from another copy of the module (e.g. a bundled client) is still one.
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'DynakvError' &&
    isErrorCode((err as { code?: unknown }).code)
  );
}

const KEY_ROUTE = /^\/v1\/(?:kv|admin\/local|cluster\/preflist)\//;

/** Whether a request URL addresses a key, so a malformed path is `invalid_key`. */
function isKeyUrl(url: string | undefined): boolean {
  return url !== undefined && KEY_ROUTE.test(url);
}

/**
 * Normalises anything thrown into a DynakvError. DynakvErrors pass through;
 * fastify's own errors get the matching code; anything else is `internal`
 * with a generic message (the original stays in the log, never in the reply).
 */
export function toDynakvError(err: unknown, url?: string): DynakvError {
  if (isDynakvError(err)) return err;
  const e = err as Partial<FastifyError> | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (e && Array.isArray(e.validation)) {
    return new DynakvError('invalid_parameter', String(e.message ?? 'invalid request'));
  }
  if (code.startsWith('FST_')) {
    switch (code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new DynakvError('value_too_large', 'request body exceeds the value size limit');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return new DynakvError('invalid_parameter', 'Content-Type is not a valid media type', { parameter: 'content-type' });
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return new DynakvError('invalid_parameter', 'request body length does not match Content-Length', {
          parameter: 'content-length',
        });
      case 'FST_ERR_BAD_URL':
        return isKeyUrl(url)
          ? new DynakvError('invalid_key', 'key is not valid percent-encoded UTF-8')
          : new DynakvError('invalid_parameter', 'request URL is not validly percent-encoded');
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return new DynakvError('invalid_key', 'key is too long');
      case 'FST_ERR_NOT_FOUND':
        return new DynakvError('not_found', 'no such route');
      default: {
        const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
        if (status === 413) return new DynakvError('value_too_large', 'request body is too large');
        if (status === 404) return new DynakvError('not_found', 'no such route');
        if (status === 401) return new DynakvError('unauthorized', 'unauthorized');
        if (status >= 400 && status < 500) return new DynakvError('invalid_parameter', String(e?.message ?? 'bad request'));
      }
    }
  }
  return new DynakvError('internal', 'internal error');
}

/** The JSON body of an error reply. `code` and `message` cannot be overridden by details. */
export function errorBody(err: DynakvError): string {
  const out: Record<string, unknown> = { code: err.code, message: err.message };
  const details: ErrorDetails | undefined = err.details;
  if (details) {
    for (const k of Object.keys(details)) {
      if (k !== 'code' && k !== 'message' && details[k] !== undefined) out[k] = details[k];
    }
  }
  try {
    return JSON.stringify({ error: out });
  } catch {
    return JSON.stringify({ error: { code: err.code, message: err.message } });
  }
}

/** Seconds for `Retry-After` on 503 overloaded: details.retryAfterSeconds, default 1. */
export function retryAfterSeconds(err: DynakvError): number {
  const s = err.details?.retryAfterSeconds;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? Math.ceil(s) : 1;
}

/** Sends `err` as the API's JSON error. Returns the reply (for `return sendError(...)`). */
export function sendError(reply: FastifyReply, err: DynakvError): FastifyReply {
  reply.code(ERROR_STATUS[err.code] ?? 500);
  if (err.code === 'overloaded') reply.header('retry-after', String(retryAfterSeconds(err)));
  reply.header('content-type', 'application/json; charset=utf-8');
  return reply.send(errorBody(err));
}

/** fastify error handler (setErrorHandler). */
export function dynakvErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const err = toDynakvError(error, request.url);
  if (err.code === 'internal') {
    request.log.error({ err: error }, 'internal error serving %s %s', request.method, request.url);
  }
  return sendError(reply, err);
}

/** fastify not-found handler (setNotFoundHandler): unknown routes are `not_found`. */
export function dynakvNotFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, new DynakvError('not_found', `no route ${request.method} ${request.url.split('?', 1)[0]}`));
}

/**
 * For the server option `frameworkErrors`: errors fastify raises before any
 * route runs (a malformed URL such as /v1/kv/%FF, an over-long parameter).
 */
export function dynakvFrameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, toDynakvError(error, request.url));
}
