import Fastify, { type FastifyInstance } from 'fastify';
import { PEER_BATCH_PATH, PEER_FROM_HEADER } from '../adapters/http-transport.js';
import { peerPackr } from '../adapters/msgpack.js';
import { LIMITS } from '../core/limits.js';
import type { PeerReply } from '../core/messages.js';
import type { PeerHandler } from '../ports/transport.js';

export interface PeerServerOptions {
  handler: PeerHandler;
  /** Node ids whose requests are refused (fault injection). */
  blocked: ReadonlySet<string>;
}

/**
 * The peer port: one route taking a msgpack array of messages and answering
 * with the array of replies, in order. Anything malformed gets a 400 and the
 * node carries on; nothing here throws past fastify's error handler.
 */
export function buildPeerServer(options: PeerServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: LIMITS.peerBodyBytesMax, keepAliveTimeout: 60_000 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: LIMITS.peerBodyBytesMax }, (_req, body, done) => done(null, body));
  app.post(PEER_BATCH_PATH, async (request, reply) => {
    const from = request.headers[PEER_FROM_HEADER];
    if (typeof from === 'string' && options.blocked.has(from)) {
      return reply.code(503).send({ error: { code: 'partitioned', message: 'fault injection: peer cut off' } });
    }
    let messages: unknown;
    try {
      messages = peerPackr.unpack(request.body as Buffer);
    } catch {
      return reply.code(400).send({ error: { code: 'invalid_message', message: 'body is not msgpack' } });
    }
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > LIMITS.peerBatchMessagesMax) {
      return reply.code(400).send({ error: { code: 'invalid_message', message: `expected 1..${LIMITS.peerBatchMessagesMax} messages` } });
    }
    const replies: PeerReply[] = await Promise.all(messages.map((m) => options.handler(m)));
    return reply.header('content-type', 'application/msgpack').send(peerPackr.pack(replies));
  });
  app.setErrorHandler((error: { statusCode?: number; message?: string }, _request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    void reply.code(status).send({ error: { code: status === 500 ? 'internal' : 'invalid_message', message: String(error.message) } });
  });
  return app;
}
