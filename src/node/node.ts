import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { HttpTransport } from '../adapters/http-transport.js';
import { LmdbHintLog } from '../adapters/lmdb-hint-log.js';
import { LmdbStore } from '../adapters/lmdb-store.js';
import { peerPackr } from '../adapters/msgpack.js';
import { SystemClock } from '../adapters/system-clock.js';
import { SystemRandom } from '../adapters/system-random.js';
import { createHasher } from '../adapters/xxhash.js';
import { KvNode } from '../core/kv-node.js';
import { LIMITS } from '../core/limits.js';
import type { MemberInfo } from '../core/messages.js';
import { toWire } from '../core/membership/ring-state.js';
import { parseMembers } from '../core/peer-protocol.js';
import { validateRing, type Ring } from '../core/ring/ring.js';
import { buildPeerServer } from '../http/peer-api.js';
import { buildPublicServer } from '../http/public-api.js';
import type { Random } from '../ports/random.js';
import type { Store } from '../ports/store.js';
import type { NodeOptions, RunningNode } from './options.js';
import type { KvService } from './service.js';

const META_ACTOR = 'actor';
const META_INCARNATION = 'incarnation';
const META_MEMBERS = 'members';
const META_RING = 'ring';

/**
 * Assembles one node: LMDB store, undici transport, the deterministic core,
 * the peer server and the public API. Ports given as :0 are resolved before
 * the node announces its addresses.
 */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const log = pino({ level: options.logLevel, base: { node: options.id } });
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
        knownRing: loadRing(store, log),
      },
      {
        store,
        transport,
        clock,
        random,
        hasher,
        hintLog,
        persistMembers: (m) => saveMembers(store, m, log),
        persistRing: (ring) => saveRing(store, ring, log),
        persistIncarnation: (n) => saveIncarnation(store, n, log),
        onLeft: () => {
          log.info('left the cluster; closing');
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

/** The actor id names this data directory's dots; a wiped directory gets a fresh epoch. */
async function loadActor(store: Store, id: string, random: Random): Promise<string> {
  const saved = store.getMeta(META_ACTOR);
  if (saved !== undefined) return Buffer.from(saved).toString('utf8');
  let epoch = '';
  for (let i = 0; i < 8; i++) epoch += 'abcdefghijklmnopqrstuvwxyz0123456789'[random.int(36)];
  const actor = `${id}.${epoch}`;
  await store.putMeta(META_ACTOR, Buffer.from(actor, 'utf8'));
  return actor;
}

async function bumpIncarnation(store: Store): Promise<number> {
  const saved = store.getMeta(META_INCARNATION);
  const next = saved === undefined ? 1 : Buffer.from(saved).readUInt32BE(0) + 1;
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(next >>> 0, 0);
  await store.putMeta(META_INCARNATION, bytes);
  return next;
}

function loadMembers(store: Store): MemberInfo[] {
  const saved = store.getMeta(META_MEMBERS);
  if (saved === undefined) return [];
  try {
    return parseMembers(peerPackr.unpack(saved));
  } catch {
    return [];
  }
}

/** The ring this node last adopted (validated like a peer's: a damaged record means bootstrapping again). */
function loadRing(store: Store, log: Logger): Ring | undefined {
  const saved = store.getMeta(META_RING);
  if (saved === undefined) return undefined;
  try {
    return validateRing(peerPackr.unpack(saved));
  } catch (error) {
    log.warn({ err: error }, 'persisted ring is unreadable; bootstrapping from seeds');
    return undefined;
  }
}

function saveRing(store: Store, ring: Ring, log: Logger): void {
  store.putMeta(META_RING, peerPackr.pack(toWire(ring))).catch((error: unknown) => log.warn({ err: error }, 'could not persist the ring'));
}

/** A refutation raised our incarnation: the next start must go above it (bumpIncarnation adds 1 to this). */
function saveIncarnation(store: Store, incarnation: number, log: Logger): void {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(incarnation >>> 0, 0);
  store.putMeta(META_INCARNATION, bytes).catch((error: unknown) => log.warn({ err: error }, 'could not persist the incarnation'));
}

function saveMembers(store: Store, members: MemberInfo[], log: Logger): void {
  store.putMeta(META_MEMBERS, peerPackr.pack(members)).catch((error: unknown) => log.warn({ err: error }, 'could not persist members'));
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
