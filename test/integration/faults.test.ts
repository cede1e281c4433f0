import { afterAll, describe, expect, it } from 'vitest';
import { checkSet, finalReads, http, rng, runCartWorkload, sleep, summary, waitConverged, type Http } from '../containers/lib/cart.js';
import { startCluster, type TestCluster } from './helpers/cluster.js';

/**
 * DESIGN §9 level 3: a shopping-cart set workload on a real 5-node process
 * cluster while a seeded nemesis kills/restarts, pauses/resumes, partitions/heals
 * and wipes (one node, once; writes use w=2), then heal, wait for convergence
 * through hinted handoff and anti-entropy alone, and check with Jepsen's set
 * checker (no acknowledged add lost) and that every key's primaries hold equal
 * objects. DYNAKV_FAULTS_SEED=S replays a nemesis schedule; DYNAKV_FAULTS_MS sets
 * the fault window.
 */

const SEED = Number(process.env.DYNAKV_FAULTS_SEED ?? Date.now() % 100_000);
const FAULT_MS = Number(process.env.DYNAKV_FAULTS_MS ?? 35_000);
const KEYS = ['cart:1', 'cart:2', 'cart:3', 'cart:4', 'cart:5', 'cart:6'];
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

interface Nemesis {
  /** Faults injected. */
  faults: string[];
  /** Every nemesis action, recoveries included. */
  log: string[];
  done: Promise<void>;
}

/** Seeded fault schedule: at most 2 nodes killed/paused at once, one partition at a time, one wipe (when all else is healthy). */
function nemesis(c: TestCluster, seed: number, durationMs: number): Nemesis {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const faults: string[] = [];
  const down = new Map<string, 'killed' | 'paused'>();
  let partitioned = false;
  let wiped = false;
  const mustDo = ['kill', 'pause', 'partition', 'wipe'].sort(() => rand() - 0.5);
  const act = async (args: string[]): Promise<void> => {
    faults.push(args.slice(1).join(' '));
    log.push(args.slice(1).join(' '));
    await c.cliOk(args, { timeoutMs: 30_000 });
  };
  const log: string[] = [];
  const recover = async (): Promise<void> => {
    const [id, how] = pick([...down.entries()]);
    down.delete(id);
    log.push(`${how === 'killed' ? 'start' : 'resume'} ${id}`);
    await c.cliOk(['cluster', how === 'killed' ? 'start' : 'resume', id], { timeoutMs: 30_000 });
  };
  const healAll = async (): Promise<void> => {
    if (partitioned) log.push('heal');
    partitioned = false;
    await c.cliOk(['cluster', 'heal']);
    while (down.size > 0) await recover();
  };
  const done = (async () => {
    const until = Date.now() + durationMs;
    // Past the window only to finish the one-of-each list, and never past this.
    const hardStop = until + 20_000;
    await sleep(1_500);
    for (let step = 0; step < 40 && Date.now() < hardStop && (Date.now() < until || mustDo.length > 0); step++) {
      const healthy = NODES.filter((n) => !down.has(n));
      const choices: string[] = [];
      if (down.size < 2) choices.push('kill', 'pause', 'kill', 'pause');
      if (down.size > 0) choices.push('recover', 'recover');
      choices.push(partitioned ? 'heal' : 'partition');
      if (!wiped && step >= 3) choices.push('wipe', 'wipe');
      let what = pick(choices);
      // Each kind of fault at least once, in a seeded order; then at random.
      const must = mustDo.findIndex((m) => choices.includes(m));
      if (what !== 'recover' && what !== 'heal' && must >= 0) what = mustDo.splice(must, 1)[0]!;
      if (what === 'kill' || what === 'pause') {
        const id = pick(healthy);
        await act(['cluster', what, id]);
        down.set(id, what === 'kill' ? 'killed' : 'paused');
      } else if (what === 'recover') {
        await recover();
      } else if (what === 'partition') {
        const shuffled = [...NODES].sort(() => rand() - 0.5);
        const cut = 1 + Math.floor(rand() * 2); // 1|4 or 2|3
        await act(['cluster', 'partition', shuffled.slice(0, cut).join(','), shuffled.slice(cut).join(',')]);
        partitioned = true;
      } else if (what === 'heal') {
        log.push('heal');
        await c.cliOk(['cluster', 'heal']);
        partitioned = false;
      } else if (what === 'wipe') {
        // Only with everything else healthy: w=2 leaves a second copy of every acknowledged add.
        await healAll();
        await act(['cluster', 'wipe', pick(NODES)]);
        wiped = true;
      }
      await sleep(800 + Math.floor(rand() * 1_700));
    }
    await healAll();
  })();
  return { faults, log, done };
}

describe('faults: cart workload under a seeded nemesis (5 process nodes)', () => {
  let c: TestCluster | undefined;
  let h: Http | undefined;
  afterAll(async () => {
    await h?.close();
    await c?.stop();
  });

  it('loses no acknowledged add and converges after heal', async () => {
    c = await startCluster({ nodes: 5, flags: ['--sync', 'none', '--log-level', 'warn'] });
    const cl = c;
    h = http();
    const urls = cl.nodes.map((n) => n.url);
    const nem = nemesis(cl, SEED, FAULT_MS);
    let healed = false;
    const [hist] = await Promise.all([
      // Writes go on until the nemesis has healed everything (bounded by time and count all the same).
      runCartWorkload(h, { urls: () => urls, keys: KEYS, clients: 6, durationMs: FAULT_MS + 45_000, maxOps: 20_000, seed: SEED, w: 2, thinkMs: 5, stop: () => healed }),
      nem.done.finally(() => (healed = true)),
    ]);
    const conv = await waitConverged(h, () => urls[0]!, (id) => cl.node(id).url, KEYS, 45_000);
    const reads = await finalReads(h, urls, KEYS);
    const check = checkSet(hist, reads);
    const after = await waitConverged(h, () => urls[0]!, (id) => cl.node(id).url, KEYS, 15_000);
    console.log(
      summary(`faults seed=${SEED}`, hist, check, nem.faults.length, {
        convergedMs: conv.converged ? conv.ms : `timeout(${conv.diverged.join(',')})`,
      }),
    );
    console.log(`faults seed=${SEED} schedule: ${nem.log.join(' | ')}`);
    expect(check.lost, `lost acknowledged adds (seed ${SEED})`).toEqual([]);
    expect(check.unexpected, `unexpected items (seed ${SEED})`).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(50);
    expect(nem.faults.length, 'one kill, pause, partition and wipe at least').toBeGreaterThanOrEqual(4);
    expect(conv.converged, `primaries of ${conv.diverged.join(',')} differ after ${conv.ms} ms (seed ${SEED})`).toBe(true);
    expect(after.converged, `primaries differ after the r=all reads (seed ${SEED})`).toBe(true);
  }, 150_000);
});
