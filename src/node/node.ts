import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { HttpTransport } from '../adapters/http-transport.js';
import { LmdbHintLog } from '../adapters/lmdb-hint-log.js';
import { LmdbStore } from '../adapters/lmdb-store.js';
import { SystemClock } from '../adapters/system-clock.js';
import { SystemRandom } from '../adapters/system-random.js';
import { createHasher } from '../adapters/xxhash.js';
import { KvNode } from '../core/kv-node.js';
import { LIMITS } from '../core/limits.js';
import { buildPeerServer } from '../http/peer-api.js';
import { buildPublicServer } from '../http/public-api.js';
import { writeLeftMarker } from './left-marker.js';
import { bumpIncarnation, loadActor, loadMembers, loadRing, saveIncarnation, saveMembers, saveRing, type OnPersistError } from './identity.js';
import type { NodeOptions, RunningNode } from './options.js';
import type { KvService } from './service.js';


/**
 * Assembles one node: LMDB store, undici transport, the deterministic core,
 * the peer server and the public API. Ports given as :0 are resolved before
 * the node announces its addresses.
 */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const log = pino({ level: options.logLevel, base: { node: options.id } });
  const persistError: OnPersistError = (what, error) => log.warn({ err: error }, `could not persist ${what}`);
  await mkdir(options.data, { recursive: true });
  const store = LmdbStore.open(join(options.data, 'db'), { sync: options.sync });
  const hintLog = LmdbHintLog.open(join(options.data, 'hints'), { sync: options.sync });
  const clock = new SystemClock();
  const random = new SystemRandom();
  const actor = await loadActor(store, options.id, random);
  const incarnation = await bumpIncarnation(store);
  const hasher = await createHasher();

  let node: KvNode | undefined;
  const transport = new HttpTransport(options.id, (id) => node?.addressOf(id));
  const peerServer = buildPeerServer({
    handler: (m) => (node ? node.handlePeer(m) : Promise.resolve({ type: 'error', code: 'starting', message: 'node is starting' })),
    blocked: transport.blocked,
  });
  let apiServer: FastifyInstance | undefined;
  let announceLeft: () => void = () => undefined;
  const left = new Promise<void>((resolve) => {
    announceLeft = resolve;
  });
  let closing: Promise<void> | undefined;
  /** Stops serving and releases everything, once (a signal and a finished leave may both ask). */
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      node?.stop();
      clock.clearAll();
      await apiServer?.close();
      await peerServer.close();
      await transport.close();
      await store.close();
      await hintLog.close();
      log.info('node stopped');
    })());
  try {
    const peerAddress = await listen(peerServer, options.peer);
    node = new KvNode(
      {
        id: options.id,
        actor,
        api: options.api,
        peer: peerAddress,
        zone: options.zone,
        seeds: options.seeds,
        replicas: options.replicas,
        partitions: options.partitions,
        siblingsMax: LIMITS.siblingsMaxDefault,
        valueBytesMax: options.maxValueBytes,
        incarnation,
        hintedHandoff: options.hintedHandoff,
        antiEntropy: options.antiEntropy,
        tombstoneGraceMs: options.tombstoneGraceMs,
        knownMembers: loadMembers(store),
        knownRing: loadRing(store, persistError),
      },
      {
        store,
        transport,
        clock,
        random,
        hasher,
        hintLog,
        persistMembers: (m) => saveMembers(store, m, persistError),
        persistRing: (ring) => saveRing(store, ring, persistError),
        persistIncarnation: (n) => saveIncarnation(store, n, persistError),
        onLeft: () => {
          log.info('left the cluster; closing');
          try {
            writeLeftMarker(options.data, options.id, clock.now());
          } catch (error) {
            log.warn({ err: error }, 'could not write the left marker');
          }
          close().then(announceLeft, (error: unknown) => {
            log.error({ err: error }, 'close after leave failed');
            announceLeft();
          });
        },
      },
    );
    const service: KvService = node;
    apiServer = buildPublicServer(service, { keepAliveTimeout: 60_000, forceCloseConnections: true });
    if (options.faultInjection) registerFaultHook(apiServer, transport, log);
    const apiAddress = await listen(apiServer, options.api);
    node.setAddresses(apiAddress, peerAddress);
    node.start();
    log.info({ api: apiAddress, peer: peerAddress, actor, incarnation }, 'node started');
    return { id: options.id, apiAddress, peerAddress, close, left };
  } catch (error) {
    node?.stop();
    clock.clearAll();
    await Promise.allSettled([apiServer?.close(), peerServer.close(), transport.close()]);
    await store.close();
    await hintLog.close();
    throw error;
  }
}

async function listen(app: FastifyInstance, address: string): Promise<string> {
  const { host, port } = splitAddress(address);
  await app.listen({ host, port });
  const bound = app.server.address() as AddressInfo;
  return `${host}:${bound.port}`;
}

export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad address ${address}: expected host:port`);
  return { host: address.slice(0, at), port };
}

/** POST /v1/admin/fault {"blocked":[ids]}: cut internode traffic with those nodes, both ways. Tool-made clusters only. */
function registerFaultHook(app: FastifyInstance, transport: HttpTransport, log: Logger): void {
  app.post('/v1/admin/fault', async (request, reply) => {
    const body = request.body as { blocked?: unknown } | undefined;
    const blocked = body?.blocked;
    if (!Array.isArray(blocked) || !blocked.every((b) => typeof b === 'string')) {
      return reply.code(400).send({ error: { code: 'invalid_parameter', message: 'expected {"blocked": [node ids]}' } });
    }
    transport.blocked.clear();
    for (const id of blocked) transport.blocked.add(id);
    log.warn({ blocked }, 'fault injection: internode traffic cut');
    return { blocked };
  });
}
