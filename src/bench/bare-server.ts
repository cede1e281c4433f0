/**
 * The HTTP ceiling: a bare fastify server in its own process, with the same
 * routes and body handling as the public API but no work behind them.
 * GET /v1/kv/* answers 200 with a fixed value; PUT /v1/kv/* takes the body as
 * a Buffer and answers 204. Usage: node dist/bench/bare-server.js HOST PORT VALUE_BYTES
 */
import Fastify from 'fastify';

const [host = '127.0.0.1', portArg = '0', valueArg = '1024'] = process.argv.slice(2);
const value = Buffer.alloc(Number(valueArg), 0x61);

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, keepAliveTimeout: 60_000 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.get('/v1/kv/*', { exposeHeadRoute: false }, (_request, reply) => {
  reply.header('content-type', 'application/octet-stream');
  return reply.send(value);
});
app.put('/v1/kv/*', (_request, reply) => reply.code(204).send());
app.get('/health', (_request, reply) => reply.send({ status: 'ok' }));

const stop = (): void => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop).once('SIGINT', stop);

await app.listen({ host, port: Number(portArg) });
