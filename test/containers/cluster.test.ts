/**
 * DESIGN §9 level 4: a 5-node dynakv cluster in containers on a private Docker
 * network (testcontainers), the shopping-cart set workload against mapped ports
 * on 127.0.0.1, and a seeded nemesis of network partitions (docker network
 * disconnect/connect), pause/unpause, kill + start and graceful restart (the
 * data bind dir is kept), then heal, wait for convergence and run the set checker.
 *
 * Run with `npm run test:containers` (scripts/containers/run.sh builds the image
 * and sets DYNAKV_IMAGE / DYNAKV_CT_RUN_ID). Everything made here is labelled
 * dynakv.test=<run id> and removed in afterAll; run.sh sweeps by label as well.
 *
 * Addressing: each node runs with DYNAKV_API=nX:7001 / DYNAKV_PEER=nX:7101 and
 * an /etc/hosts entry nX → 0.0.0.0 in its own container, so it listens on every
 * interface (its IP may change when it is reconnected) and advertises nX, which
 * the other containers resolve through Docker's DNS (network alias nX).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Network, Wait, getContainerRuntimeClient, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSet, finalReads, http, rng, runCartWorkload, sleep, summary, waitConverged, type Http } from './lib/cart.js';

const IMAGE = process.env.DYNAKV_IMAGE ?? 'dynakv-node:test';
const RUN_ID = process.env.DYNAKV_CT_RUN_ID ?? `dynakv-ct-${process.pid}-${Date.now() % 1_000_000}`;
const SEED = Number(process.env.DYNAKV_FAULTS_SEED ?? Date.now() % 100_000);
const FAULT_MS = Number(process.env.DYNAKV_FAULTS_MS ?? 40_000);
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
const KEYS = ['cart:1', 'cart:2', 'cart:3', 'cart:4', 'cart:5', 'cart:6'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Node {
  id: string;
  hostPort: number;
  url: string;
  container: StartedTestContainer;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_500) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (let i = 0; i < 1_000; i++) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) break;
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function allAlive(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v1/cluster/members`, { signal: AbortSignal.timeout(1_500) });
    const members = (await res.json()) as Array<{ id: string; status: string }>;
    return IDS.every((id) => members.some((m) => m.id === id && m.status === 'alive'));
  } catch {
    return false;
  }
}

describe('container cluster (5 nodes, testcontainers)', () => {
  const nodes: Node[] = [];
  let network: StartedNetwork | undefined;
  let dataDir: string | undefined;
  let h: Http | undefined;

  afterAll(async () => {
    await h?.close();
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    // Whatever state the nemesis left: unpause, then force-remove with volumes.
    const made = await docker.listContainers({ all: true, filters: { label: [`dynakv.test=${RUN_ID}`] } });
    for (const info of made) {
      const ct = docker.getContainer(info.Id);
      if (info.State === 'paused') await ct.unpause().catch(() => undefined);
      await ct.remove({ force: true, v: true }).catch(() => undefined);
    }
    await network?.stop().catch(() => undefined);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('loses no acknowledged add under partitions, pauses, kills and restarts, and converges', async () => {
    dataDir = mkdtempSync(join(tmpdir(), `${RUN_ID}-data-`));
    network = await new Network({ nextUuid: () => `${RUN_ID}-net` }).start();
    const ports = await Promise.all(IDS.map(() => freePort()));
    const seeds = IDS.map((id) => `${id}:7101`).join(',');
    const t0 = Date.now();
    const started = await Promise.all(
      IDS.map(async (id, i) => {
        const dir = join(dataDir!, id);
        mkdirSync(dir, { recursive: true });
        const container = await new GenericContainer(IMAGE)
          .withName(`${RUN_ID}-${id}`)
          .withLabels({ 'dynakv.test': RUN_ID })
          .withNetwork(network!)
          .withNetworkAliases(id)
          .withExtraHosts([{ host: id, ipAddress: '0.0.0.0' }])
          .withEnvironment({
            DYNAKV_ID: id,
            DYNAKV_API: `${id}:7001`,
            DYNAKV_PEER: `${id}:7101`,
            DYNAKV_SEEDS: seeds,
            DYNAKV_DATA: '/data',
            DYNAKV_SYNC: 'fsync',
            DYNAKV_LOG_LEVEL: 'warn',
          })
          .withBindMounts([{ source: dir, target: '/data', mode: 'rw' }])
          .withExposedPorts({ container: 7001, host: ports[i]! })
          .withWaitStrategy(Wait.forHttp('/health', 7001).forStatusCode(200))
          .withStartupTimeout(60_000)
          .start();
        return { id, hostPort: ports[i]!, url: `http://127.0.0.1:${ports[i]!}`, container };
      }),
    );
    nodes.push(...started);
    const joinMs = await waitFor('all 5 members alive on every node', async () => (await Promise.all(nodes.map((n) => allAlive(n.url)))).every(Boolean), 60_000);
    console.log(`containers: 5 nodes up in ${Date.now() - t0} ms (members alive after +${joinMs} ms), image ${IMAGE}, network ${network.getName()}`);

    const docker = (await getContainerRuntimeClient()).container.dockerode;
    const net = docker.getNetwork(network.getId());
    const ct = (id: string) => docker.getContainer(nodes.find((n) => n.id === id)!.container.getId());
    const urlOf = (id: string) => nodes.find((n) => n.id === id)!.url;

    // Seeded nemesis: at most 2 nodes impaired at once.
    const rand = rng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const impaired = new Map<string, 'disconnected' | 'paused' | 'killed'>();
    const faults: string[] = [];
    const log: string[] = [];
    const mustDo = ['disconnected', 'paused', 'killed', 'restarted'].sort(() => rand() - 0.5);
    const inject = async (what: 'disconnected' | 'paused' | 'killed' | 'restarted', id: string): Promise<void> => {
      faults.push(`${what} ${id}`);
      log.push(`${what} ${id}`);
      if (what === 'disconnected') await net.disconnect({ Container: ct(id).id, Force: true });
      else if (what === 'paused') await ct(id).pause();
      else if (what === 'killed') await ct(id).kill();
      else await ct(id).restart({ t: 5 });
      if (what !== 'restarted') impaired.set(id, what);
    };
    const recover = async (id: string): Promise<void> => {
      const how = impaired.get(id)!;
      impaired.delete(id);
      log.push(`${how === 'disconnected' ? 'connect' : how === 'paused' ? 'unpause' : 'start'} ${id}`);
      if (how === 'disconnected') await net.connect({ Container: ct(id).id, EndpointConfig: { Aliases: [id] } });
      else if (how === 'paused') await ct(id).unpause();
      else await ct(id).start();
    };
    const nemesis = (async () => {
      const until = Date.now() + FAULT_MS;
      // Past the window only to finish the one-of-each list, and never past this.
      const hardStop = until + 20_000;
      await sleep(1_500);
      for (let step = 0; step < 40 && Date.now() < hardStop && (Date.now() < until || mustDo.length > 0); step++) {
        const choices: string[] = [];
        if (impaired.size < 2) choices.push('disconnected', 'disconnected', 'paused', 'killed', 'restarted');
        if (impaired.size > 0) choices.push('recover', 'recover');
        let what = pick(choices);
        // Each kind of fault at least once, in a seeded order; then at random.
        if (what !== 'recover' && mustDo.length > 0) what = mustDo.shift()!;
        if (what === 'recover') await recover(pick([...impaired.keys()]));
        else await inject(what as 'disconnected', pick(IDS.filter((id) => !impaired.has(id))));
        await sleep(1_000 + Math.floor(rand() * 2_000));
      }
      for (const id of [...impaired.keys()]) await recover(id);
    })();

    h = http();
    const urls = nodes.map((n) => n.url);
    let healed = false;
    const [hist] = await Promise.all([
      // Writes go on until the nemesis has healed everything (bounded by time and count all the same).
      runCartWorkload(h, { urls: () => urls, keys: KEYS, clients: 6, durationMs: FAULT_MS + 45_000, maxOps: 20_000, seed: SEED, w: 2, thinkMs: 5, stop: () => healed }),
      nemesis.finally(() => (healed = true)),
    ]);
    await waitFor('every node healthy after heal', async () => (await Promise.all(urls.map((u) => healthy(u)))).every(Boolean), 60_000);
    const conv = await waitConverged(h, () => urls[0]!, urlOf, KEYS, 60_000);
    const reads = await finalReads(h, urls, KEYS);
    const check = checkSet(hist, reads);
    const after = await waitConverged(h, () => urls[0]!, urlOf, KEYS, 15_000);
    console.log(
      summary(`containers seed=${SEED}`, hist, check, faults.length, {
        convergedMs: conv.converged ? conv.ms : `timeout(${conv.diverged.join(',')})`,
      }),
    );
    console.log(`containers seed=${SEED} schedule: ${log.join(' | ')}`);
    expect(check.lost, `lost acknowledged adds (seed ${SEED})`).toEqual([]);
    expect(check.unexpected, `unexpected items (seed ${SEED})`).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(50);
    expect(faults.length, 'one disconnect, pause, kill and restart at least').toBeGreaterThanOrEqual(4);
    expect(conv.converged, `primaries of ${conv.diverged.join(',')} differ after ${conv.ms} ms (seed ${SEED})`).toBe(true);
    expect(after.converged, `primaries differ after the r=all reads (seed ${SEED})`).toBe(true);
  }, 300_000);
});
