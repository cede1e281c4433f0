import { assert } from '../core/assert.js';
import type { VersionedObject } from '../core/version/types.js';
import { checkSet, convergenceViolations, listed, objectViolations, setViolations, storeViolations, type SetReport } from './checkers.js';
import { SimCluster } from './cluster.js';
import { Nemesis, type NemesisConfig } from './nemesis.js';
import { Prng } from './prng.js';
import { Trace } from './trace.js';
import { SCHEDULER_LIMITS_DEFAULT, Scheduler, SimEventError, SimLimitError } from './virtual-clock.js';
import { itemsOf, Workload, type AddRecord, type WorkloadConfig } from './workload.js';

/**
 * One simulated run, start to verdict:
 *   boot (no faults; nodes find each other through their seeds)
 *   → for each round: safety phase (workload + nemesis)
 *                     → liveness phase (faults stop, network heals, every node up,
 *                       in-flight client calls finish, rings agree)
 *                     → repair (background mechanisms first, then read repair)
 *                     → checks (convergence, set, object invariants)
 * Everything is bounded in events and virtual time, so a run always ends.
 */

export interface SimOptions {
  seed: number;
  nodes: number;
  replicas: number;
  partitions: number;
  clients: number;
  keys: number;
  /** Client iterations (read + add) per round. */
  steps: number;
  rounds: number;
  /** Read/write quorums of the workload; default: a majority of N. */
  r?: number;
  w?: number;
  /** false: no nemesis (a fault-free baseline). */
  faults: boolean;
  /** Receives every trace line (`--trace-log`). */
  traceSink?: (line: string) => void;
}

export const SIM_DEFAULTS: Omit<SimOptions, 'seed'> = {
  nodes: 5,
  replicas: 3,
  partitions: 64,
  clients: 5,
  keys: 6,
  steps: 200,
  rounds: 1,
  faults: true,
};

/** Bounds of the phases, in virtual ms. */
const BOOT_MS_MAX = 30_000;
const SAFETY_MS_MAX = 10 * 60_000;
const DRAIN_MS_MAX = 30_000;
const RING_AGREEMENT_MS_MAX = 30_000;
/**
 * Quiet time right after heal: messages already in flight when the faults
 * stopped (slow ones take up to 4 s) land before repair and the checks.
 */
const SETTLE_MS = 5_000;
/**
 * How long background repair (hinted handoff, anti-entropy: not built yet)
 * gets before the checker falls back to read repair.
 */
const PASSIVE_REPAIR_MS = 2_000;
/** Read-repair sweeps (every key read at r=all, repair=sync) before convergence is declared failed. */
const REPAIR_SWEEPS_MAX = 5;
const REPAIR_READ_TIMEOUT_MS = 2_000;
const CLIENT_SLACK_MS = 2_000;

export interface SimResult {
  seed: number;
  ok: boolean;
  failures: string[];
  /** SHA-256 of the event trace, hex. */
  trace: string;
  ops: number;
  attempted: number;
  acked: number;
  unknown: number;
  failed: number;
  lost: number;
  recovered: number;
  faults: number;
  events: number;
  virtualMs: number;
  /** How the last round converged: "passive", "read-repair×k", or "none". */
  repair: string;
  repairMs: number;
  set: SetReport | undefined;
  recentTrace: string[];
}

export async function runSimulation(input: Partial<SimOptions> & { seed: number }): Promise<SimResult> {
  const options: SimOptions = { ...SIM_DEFAULTS, ...input };
  const majority = Math.floor(options.replicas / 2) + 1;
  const r = options.r ?? majority;
  const w = options.w ?? majority;
  assert(r >= 1 && r <= options.replicas && w >= 1 && w <= options.replicas, 'sim: r and w must be in 1..N');
  assert(options.rounds >= 1, 'sim: at least one round');

  const root = Prng.root(options.seed);
  const trace = new Trace(options.traceSink);
  const scheduler = new Scheduler(trace, SCHEDULER_LIMITS_DEFAULT);
  const cluster = await SimCluster.create({ nodes: options.nodes, replicas: options.replicas, partitions: options.partitions, siblingsMax: 100 }, scheduler, root);
  const failures: string[] = [];
  const workloadConfig: WorkloadConfig = {
    clients: options.clients,
    keys: options.keys,
    steps: options.steps,
    r,
    w,
    timeoutMs: 1000,
    clientSlackMs: CLIENT_SLACK_MS,
    thinkMsMin: 10,
    thinkMsMax: 200,
  };
  let workload: Workload | undefined;
  const contextOf = (value: string) => workload?.contextByValue.get(value);
  workload = new Workload(cluster, root.fork('workload'), workloadConfig, (where, object) => {
    const violations = objectViolations(`${scheduler.nowMs} ${where}`, object, contextOf);
    if (violations.length > 0) failures.push(...violations);
  });
  const nemesisConfig: NemesisConfig = {
    faultIntervalMsMin: 200,
    faultIntervalMsMax: 1500,
    faultDurationMsMin: 300,
    faultDurationMsMax: 5000,
    downMax: Math.max(0, Math.min(2, Math.floor((options.nodes - 1) / 2))),
    wipes: true,
    skewMsMax: 120_000,
  };
  const nemesis = new Nemesis(cluster, root.fork('nemesis'), nemesisConfig);
  const checker = root.fork('checker');
  let repair = { how: 'none', ms: 0 };
  let set: SetReport | undefined;

  try {
    await cluster.startAll();
    if (!(await scheduler.runUntil(() => membershipSettled(cluster), scheduler.nowMs + BOOT_MS_MAX))) {
      failures.push(`boot: nodes did not agree on members and ring within ${BOOT_MS_MAX} ms`);
    }
    for (let round = 1; round <= options.rounds && failures.length === 0; round++) {
      trace.record(`${scheduler.nowMs} round ${round} safety`);
      workload.start();
      if (options.faults) nemesis.start();
      if (!(await scheduler.runUntil(() => workload!.idle, scheduler.nowMs + SAFETY_MS_MAX))) {
        workload.stop();
        trace.record(`${scheduler.nowMs} safety phase hit its bound; workload stopped`);
      }
      trace.record(`${scheduler.nowMs} round ${round} liveness`);
      await nemesis.healAll();
      await scheduler.runFor(SETTLE_MS);
      if (!(await scheduler.runUntil(() => workload!.idle, scheduler.nowMs + DRAIN_MS_MAX))) {
        failures.push(`liveness: client calls still pending ${DRAIN_MS_MAX} ms after heal`);
        break;
      }
      if (!(await scheduler.runUntil(() => membershipSettled(cluster), scheduler.nowMs + RING_AGREEMENT_MS_MAX))) {
        failures.push(`liveness: rings disagree ${RING_AGREEMENT_MS_MAX} ms after heal: ${convergenceViolations(cluster, []).join('; ')}`);
        break;
      }
      repair = await repairAll(cluster, workload.keys, checker);
      const diverged = convergenceViolations(cluster, workload.keys);
      if (diverged.length > 0) failures.push(`convergence: replicas differ after ${repair.ms} ms of repair: ${listed(diverged)}`);
      const finalItems = await finalRead(cluster, workload.keys, checker, failures);
      const lastWipeMs = Math.max(-1, ...cluster.wipeTimesMs);
      const durable = (add: AddRecord): boolean => w >= 2 || add.startMs > lastWipeMs;
      set = checkSet(workload.adds.filter((add) => finalItems.has(add.key)), finalItems, durable);
      failures.push(...setViolations(set));
      failures.push(...storeViolations(cluster, contextOf));
    }
  } catch (error) {
    if (error instanceof SimLimitError || error instanceof SimEventError) failures.push(`${error.name}: ${error.message}`);
    else throw error;
  }
  failures.push(...cluster.bugReports.map((bug) => `bug: ${bug}`));

  return {
    seed: options.seed,
    ok: failures.length === 0,
    failures,
    trace: trace.digest(),
    ops: workload.ops,
    attempted: workload.adds.length,
    acked: workload.count('acked'),
    unknown: workload.count('unknown') + workload.count('pending'),
    failed: workload.count('failed'),
    lost: set?.lost.length ?? 0,
    recovered: set?.recovered ?? 0,
    faults: nemesis.faults,
    events: scheduler.eventsRun,
    virtualMs: scheduler.nowMs,
    repair: repair.how,
    repairMs: repair.ms,
    set,
    recentTrace: trace.recent(),
  };
}

/** Every node up knows every node as a member and computes the same ring. */
function membershipSettled(cluster: SimCluster): boolean {
  let owners: string | undefined;
  for (const id of cluster.ids) {
    const node = cluster.node(id);
    if (node === undefined || cluster.host(id).state !== 'up') return false;
    if (node.members().length !== cluster.ids.length) return false;
    const mine = node.ring().owners.join(',');
    if (owners !== undefined && mine !== owners) return false;
    owners = mine;
  }
  return true;
}

/**
 * Repair after heal: first the background mechanisms alone (with no client
 * reads) for PASSIVE_REPAIR_MS, then sweeps of read repair: every key read at
 * r=N with repair=sync, until every primary holds an equal copy.
 */
async function repairAll(cluster: SimCluster, keys: readonly string[], random: Prng): Promise<{ how: string; ms: number }> {
  const scheduler = cluster.scheduler;
  const startMs = scheduler.nowMs;
  const converged = (): boolean => convergenceViolations(cluster, keys).length === 0;
  if (await scheduler.runUntil(converged, startMs + PASSIVE_REPAIR_MS)) return { how: 'passive', ms: scheduler.nowMs - startMs };
  const n = cluster.config.replicas;
  for (let sweep = 1; sweep <= REPAIR_SWEEPS_MAX; sweep++) {
    const reads = keys.map((key) => {
      const id = random.pick(cluster.ids);
      return cluster
        .call(id, `repair get ${key}`, REPAIR_READ_TIMEOUT_MS + CLIENT_SLACK_MS, (kv) => kv.get(key, { r: n, pr: 0, timeoutMs: REPAIR_READ_TIMEOUT_MS, repairSync: true }))
        .then(
          () => undefined,
          () => undefined,
        );
    });
    await settle(cluster, Promise.all(reads), REPAIR_READ_TIMEOUT_MS + 2 * CLIENT_SLACK_MS);
    if (converged()) return { how: `read-repair×${sweep}`, ms: scheduler.nowMs - startMs };
  }
  return { how: 'none', ms: scheduler.nowMs - startMs };
}

/** The set checker's final read: every key at r=all. A failed final read is itself a failure. */
async function finalRead(cluster: SimCluster, keys: readonly string[], random: Prng, failures: string[]): Promise<Map<string, Set<string>>> {
  const n = cluster.config.replicas;
  const out = new Map<string, Set<string>>();
  for (const key of keys) {
    const id = random.pick(cluster.ids);
    const read = cluster.call(id, `final get ${key}`, REPAIR_READ_TIMEOUT_MS + CLIENT_SLACK_MS, (kv) =>
      kv.get(key, { r: n, pr: n, timeoutMs: REPAIR_READ_TIMEOUT_MS, repairSync: true }),
    );
    let object: VersionedObject | undefined;
    try {
      object = await settle(cluster, read, REPAIR_READ_TIMEOUT_MS + 2 * CLIENT_SLACK_MS);
    } catch (error) {
      failures.push(`final read of ${key} at ${id} failed: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    try {
      out.set(key, itemsOf(object));
    } catch (error) {
      failures.push(`final read of ${key}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return out;
}

/** Runs the simulation until `promise` settles (within `boundMs` of virtual time) and returns its outcome. */
async function settle<T>(cluster: SimCluster, promise: Promise<T>, boundMs: number): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  const scheduler = cluster.scheduler;
  if (!(await scheduler.runUntil(() => outcome !== undefined, scheduler.nowMs + boundMs))) {
    throw new SimLimitError(`a checker request did not settle within ${boundMs} ms`);
  }
  if ('error' in outcome!) throw outcome.error;
  return outcome!.value;
}

/** The report for a failed seed: the reason and the command that replays it. */
export function formatFailure(result: SimResult): string {
  return [`FAILED seed=${result.seed}: ${result.failures.join('\n  ')}`, `replay: npm run sim -- --seed ${result.seed}`].join('\n');
}

export function formatResult(result: SimResult, nodes: number): string {
  return (
    `seed=${result.seed} nodes=${nodes} ops=${result.ops} acked=${result.acked} unknown=${result.unknown} failed=${result.failed} ` +
    `lost=${result.lost} recovered=${result.recovered} faults=${result.faults} repair=${result.repair}/${result.repairMs}ms ` +
    `events=${result.events} vtime=${(result.virtualMs / 1000).toFixed(1)}s trace=${result.trace.slice(0, 16)} ${result.ok ? 'ok' : 'FAILED'}`
  );
}
