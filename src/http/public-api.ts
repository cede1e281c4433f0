import Fastify from 'fastify';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import { DynakvError } from '../core/errors.js';
import type { MemberInfo } from '../core/messages.js';
import { decodeContext, encodeContext } from '../core/version/codec.js';
import { isDeleted, liveSiblings } from '../core/version/dvv.js';
import type { Sibling, VersionedObject } from '../core/version/types.js';
import type { KvService } from '../node/service.js';
import {
  dynakvErrorHandler,
  dynakvFrameworkErrors,
  dynakvNotFoundHandler,
  sendError,
} from './errors.js';
import {
  parseContentType,
  parseDeleteOptions,
  parseGetOptions,
  parsePutOptions,
  validateKey,
  type Query,
} from './params.js';

/**
 * The public HTTP API (DESIGN §7) as a fastify plugin over a KvService.
 *
 * Hot-path notes: no schemas (nothing compiled, nothing validated twice), no
 * per-request closures, raw values are sent as Buffer views of the stored
 * bytes (no copy), and the not-found reply is built without throwing.
 * Keys are taken from a wildcard path segment, decoded by the router
 * (`/v1/kv/a%2Fb` is the key "a/b"), so no router parameter-length cap applies.
 */

export const CONTEXT_HEADER = 'x-dynakv-context';
/** Media type of the sibling envelope when a client asks for it with Accept. */
export const ENVELOPE_MEDIA_TYPE = 'application/vnd.dynakv+json';
const JSON_TYPE = 'application/json; charset=utf-8';
const OCTET_STREAM = 'application/octet-stream';

export interface SiblingJson {
  value: string;
  contentType: string;
  lastModified: string;
  deleted?: boolean;
}

export interface EnvelopeJson {
  context: string;
  siblings: SiblingJson[];
}

export interface PublicApiOptions {
  /**
   * Install the JSON `not_found` handler for unknown routes (default true).
   * Turn off when the host instance already has a not-found handler.
   */
  notFoundHandler?: boolean;
}

type KeyRoute = { Params: { '*': string }; Querystring: Query };
type KeyRequest = FastifyRequest<KeyRoute>;

const EMPTY_VALUE = Buffer.alloc(0);

function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const DATE_MS_MAX = 8.64e15;
function safeDate(ms: number): Date {
  return new Date(Number.isFinite(ms) && Math.abs(ms) <= DATE_MS_MAX ? ms : 0);
}

/**
 * Last-Modified texts by second (HTTP dates have one-second resolution):
 * formatting a Date showed in read profiles, and hot keys repeat their second.
 * Bounded: cleared when full.
 */
const HTTP_DATES_CACHED_MAX = 4096;
const httpDates = new Map<number, string>();
function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  let text = httpDates.get(second);
  if (text === undefined) {
    if (httpDates.size >= HTTP_DATES_CACHED_MAX) httpDates.clear();
    text = safeDate(ms).toUTCString();
    httpDates.set(second, text);
  }
  return text;
}

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return value.join(', ');
}

/** `Accept` names the envelope media type (no full negotiation: a substring test suffices). */
export function wantsEnvelope(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes(ENVELOPE_MEDIA_TYPE);
}

function siblingJson(s: Sibling, withDeleted: boolean): SiblingJson {
  const out: SiblingJson = {
    value: bufferView(s.value).toString('base64'),
    contentType: s.contentType,
    lastModified: safeDate(s.lastModifiedMs).toISOString(),
  };
  if (withDeleted) out.deleted = s.deleted;
  return out;
}

/** The sibling envelope: live siblings only, or (admin view) all of them with `deleted` flags. */
export function envelopeOf(key: string, obj: VersionedObject, includeTombstones: boolean): EnvelopeJson {
  const shown = includeTombstones ? obj.siblings : liveSiblings(obj);
  return {
    context: encodeContext(obj.vv, key),
    siblings: shown.map((s) => siblingJson(s, includeTombstones)),
  };
}

function newestMs(siblings: readonly Sibling[]): number {
  let ms = 0;
  for (const s of siblings) if (s.lastModifiedMs > ms) ms = s.lastModifiedMs;
  return ms;
}

function notFound(): DynakvError {
  return new DynakvError('not_found', 'key not found');
}

/**
 * Answers as GET does for `obj`: 404 not_found (with the context when a
 * tombstone or vector is known), 200 raw bytes for one live sibling, 300 with
 * the envelope for several; 200 with the envelope for one when asked by Accept.
 */
export function sendObject(reply: FastifyReply, key: string, obj: VersionedObject | undefined, envelope: boolean): FastifyReply {
  if (obj === undefined) return sendError(reply, notFound());
  const context = encodeContext(obj.vv, key);
  if (context !== '') reply.header(CONTEXT_HEADER, context);
  const siblings = obj.siblings;
  // Fast path: the common single live sibling, without allocating a filtered list.
  if (siblings.length === 1 && !siblings[0]!.deleted && !envelope) return sendValue(reply, siblings[0]!);
  if (isDeleted(obj)) return sendError(reply, notFound());
  const live = liveSiblings(obj);
  if (live.length === 1 && !envelope) return sendValue(reply, live[0]!);
  const body: EnvelopeJson = { context, siblings: live.map((s) => siblingJson(s, false)) };
  reply.code(live.length > 1 ? 300 : 200);
  reply.header('content-type', envelope ? ENVELOPE_MEDIA_TYPE : JSON_TYPE);
  reply.header('last-modified', httpDate(newestMs(live)));
  // A Buffer, so fastify sends the media type as set (it appends a charset to JSON strings).
  return reply.send(Buffer.from(JSON.stringify(body)));
}

/** 200 with one sibling's raw bytes and media type. */
function sendValue(reply: FastifyReply, s: Sibling): FastifyReply {
  reply.code(200);
  reply.header('content-type', s.contentType === '' ? OCTET_STREAM : s.contentType);
  reply.header('last-modified', httpDate(s.lastModifiedMs));
  return reply.send(bufferView(s.value));
}

function memberJson(m: MemberInfo): Record<string, unknown> {
  // `zone` is always present (null when unset), so every member has the documented shape.
  return { id: m.id, api: m.api, peer: m.peer, status: m.status, incarnation: m.incarnation, zone: m.zone ?? null };
}

function sendJson(reply: FastifyReply, status: number, value: unknown): FastifyReply {
  reply.code(status);
  reply.header('content-type', JSON_TYPE);
  return reply.send(JSON.stringify(value));
}

/**
 * onSend of the HEAD route: keep the GET's status and headers (Content-Length
 * of the entity included) and drop the body, as fastify's automatic HEAD does.
 */
function headOnSend(
  _request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (err: Error | null, payload: null) => void,
): void {
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    reply.header('content-length', String(Buffer.byteLength(payload)));
  }
  done(null, null);
}

/**
 * Past the value limit a body is still read to its end (and dropped) before
 * the 413 goes out: answering while the client is still sending makes Node
 * close the connection, and the client then sees a broken pipe instead of
 * `value_too_large` (measured: 6 of 50 undici PUTs of 2 MiB). Reading stops
 * at this many bytes; past it the connection is cut.
 */
export const OVERSIZED_BODY_DRAIN_BYTES_MAX = 64 * 1024 * 1024;

/** Reads a request body as raw bytes of any media type, up to `limit`. */
function rawBodyParser(limit: number) {
  return (_request: FastifyRequest, payload: NodeJS.ReadableStream & { destroy(): void }, done: (err: Error | null, body?: Buffer) => void): void => {
    const chunks: Buffer[] = [];
    let received = 0;
    let finished = false;
    const finish = (err: Error | null, body?: Buffer): void => {
      if (finished) return;
      finished = true;
      done(err, body);
    };
    payload.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) return void chunks.push(chunk);
      chunks.length = 0;
      if (received > OVERSIZED_BODY_DRAIN_BYTES_MAX) {
        finish(valueTooLarge(limit));
        payload.destroy();
      }
    });
    payload.on('end', () => (received > limit ? finish(valueTooLarge(limit)) : finish(null, Buffer.concat(chunks, received))));
    payload.on('error', (err: Error) => finish(err));
  };
}

function valueTooLarge(limit: number): DynakvError {
  return new DynakvError('value_too_large', `value exceeds ${limit} bytes`, { limit });
}

/** The public API as an encapsulated fastify plugin. */
export function publicApi(service: KvService, options: PublicApiOptions = {}): FastifyPluginAsync {
  const bodyLimit = service.valueBytesMax;

  async function putKv(request: KeyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const key = validateKey(request.params['*']);
    const q = parsePutOptions(request.query, service.replicas);
    const context = decodeContext(headerString(request.headers[CONTEXT_HEADER]), key);
    const contentType = parseContentType(request.headers['content-type']);
    // The body parser has enforced the value limit already (rawBodyParser).
    const body = request.body as Buffer | undefined;
    const value = body === undefined || body === null ? EMPTY_VALUE : body;
    const obj = await service.put(
      key,
      { value, contentType, context },
      { w: q.w, pw: q.pw, timeoutMs: q.timeoutMs },
    );
    if (q.returnBody) return sendObject(reply, key, obj, wantsEnvelope(request.headers.accept));
    const ctx = encodeContext(obj.vv, key);
    if (ctx !== '') reply.header(CONTEXT_HEADER, ctx);
    reply.code(204);
    return reply.send();
  }

  async function getKv(request: KeyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const key = validateKey(request.params['*']);
    const options = parseGetOptions(request.query, service.replicas);
    const obj = await service.get(key, options);
    return sendObject(reply, key, obj, wantsEnvelope(request.headers.accept));
  }

  async function deleteKv(request: KeyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const key = validateKey(request.params['*']);
    const options = parseDeleteOptions(request.query, service.replicas);
    const raw = headerString(request.headers[CONTEXT_HEADER]);
    const context = raw === undefined || raw === '' ? undefined : decodeContext(raw, key);
    const obj = await service.delete(key, context, options);
    const ctx = encodeContext(obj.vv, key);
    if (ctx !== '') reply.header(CONTEXT_HEADER, ctx);
    reply.code(204);
    return reply.send();
  }

  function members(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return sendJson(reply, 200, service.members().map(memberJson));
  }

  function ring(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return sendJson(reply, 200, service.ring());
  }

  function preflist(request: KeyRequest, reply: FastifyReply): FastifyReply {
    const key = validateKey(request.params['*']);
    return sendJson(reply, 200, service.preflist(key));
  }

  function status(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const report = service.status();
    const last = report.antiEntropy.lastExchange;
    const antiEntropy = { ...report.antiEntropy, lastExchange: typeof last === 'number' ? new Date(last).toISOString() : last };
    return sendJson(reply, 200, { ...report, antiEntropy, members: report.members.map(memberJson) });
  }

  /** Decommission: 202 with the node's status (`leaving`, or `left` once done); repeating it is harmless. */
  function leave(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (service.leave === undefined) return sendJson(reply, 404, { error: { code: 'not_found', message: 'leave is not supported by this node' } });
    return sendJson(reply, 202, service.leave());
  }

  /** Force-remove a dead member: 202 with its status (`left`); 404 unknown member; 400 when it is not dead. */
  function remove(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): FastifyReply {
    if (service.remove === undefined) return sendJson(reply, 404, { error: { code: 'not_found', message: 'remove is not supported by this node' } });
    return sendJson(reply, 202, service.remove(request.params.id));
  }

  function localKv(request: KeyRequest, reply: FastifyReply): FastifyReply {
    const key = validateKey(request.params['*']);
    const obj = service.localGet(key);
    if (obj === undefined) return sendError(reply, notFound());
    const context = encodeContext(obj.vv, key);
    if (context !== '') reply.header(CONTEXT_HEADER, context);
    return sendJson(reply, 200, envelopeOf(key, obj, true));
  }

  function health(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return service.ready() ? sendJson(reply, 200, { status: 'ok' }) : sendJson(reply, 503, { status: 'unavailable' });
  }

  return async function dynakvPublicApi(app: FastifyInstance): Promise<void> {
    // Values are opaque bytes of any media type: one catch-all parser, no JSON/text parsing.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', rawBodyParser(bodyLimit));
    app.setErrorHandler(dynakvErrorHandler);
    if (options.notFoundHandler !== false) app.setNotFoundHandler(dynakvNotFoundHandler);
    // Every key reply names the ring version, so token-aware clients refresh as soon as it changes.
    if (service.ringVersion !== undefined) {
      const ringVersion = service.ringVersion.bind(service);
      app.addHook('onSend', (_request, reply, payload, done) => {
        reply.header(RING_VERSION_HEADER, String(ringVersion()));
        done(null, payload);
      });
    }

    app.put<KeyRoute>('/v1/kv/*', putKv);
    // HEAD is declared explicitly (same handler; Node drops the body of a HEAD reply).
    app.get<KeyRoute>('/v1/kv/*', { exposeHeadRoute: false }, getKv);
    app.head<KeyRoute>('/v1/kv/*', { onSend: headOnSend }, getKv);
    app.delete<KeyRoute>('/v1/kv/*', deleteKv);

    app.get('/v1/cluster/members', members);
    app.get('/v1/cluster/ring', ring);
    app.get<KeyRoute>('/v1/cluster/preflist/*', preflist);
    app.get('/v1/admin/status', status);
    app.post('/v1/admin/leave', leave);
    app.post<{ Params: { id: string } }>('/v1/admin/remove/:id', remove);
    app.get<KeyRoute>('/v1/admin/local/*', localKv);
    app.get('/health', health);
  };
}

/** Response header carrying the ring version this node serves with. */
export const RING_VERSION_HEADER = 'x-dynakv-ring-version';

export type PublicServerOptions = Omit<FastifyServerOptions, 'frameworkErrors'> & PublicApiOptions;

/**
 * A fastify instance serving the public API (not yet listening). Logging is
 * off unless `logger`/`loggerInstance` is given; malformed URLs (e.g. a key
 * with %FF) answer with the API's JSON errors via `frameworkErrors`.
 */
export function buildPublicServer(service: KvService, opts: PublicServerOptions = {}): FastifyInstance {
  const { notFoundHandler, ...fastifyOptions } = opts;
  const app = Fastify({
    logger: false,
    bodyLimit: service.valueBytesMax,
    ...fastifyOptions,
    frameworkErrors: dynakvFrameworkErrors,
  } as FastifyServerOptions) as unknown as FastifyInstance;
  app.register(publicApi(service, notFoundHandler === undefined ? {} : { notFoundHandler }));
  return app;
}
