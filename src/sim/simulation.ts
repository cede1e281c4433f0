import { assert } from '../core/assert.js';
import type { VersionedObject } from '../core/version/types.js';
import { ChangeDriver, type ChangeMode } from './changes.js';
import { checkSet, convergenceViolations, DotRegistry, listed, objectViolations, setViolations, storeViolations, type SetReport } from './checkers.js';
import { LIMITS } from '../core/limits.js';
import { SimCluster, type ClusterConfig } from './cluster.js';
import { Nemesis } from './nemesis.js';
import { Prng } from './prng.js';
import { Trace } from './trace.js';
import { SCHEDULER_LIMITS_DEFAULT, Scheduler, SimEventError, SimLimitError } from './virtual-clock.js';
import { itemsOf, Workload, type AddRecord, type WorkloadConfig } from './workload.js';

/**
 * One simulated run, start to verdict:
 *   boot (no faults; nodes find each other through their seeds)
 *   → for each round: safety phase (workload + nemesis)
 *                     → liveness phase (faults stop, network heals, every node up;
 *                       with --changes: the round's ring changes finish (the
 *                       leaver gone, no pending transfer on any ring, senders
 *                       idle); every node sees every node alive on one ring;
 *                       in-flight client calls finish)
 *                     → repair (hinted handoff and anti-entropy alone must converge
 *                       the replicas; read repair is only the checker's fallback)
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
  /** Largest clock skew the nemesis sets on a node, either direction. */
  skewMsMax: number;
  /** Receives every trace line (`--trace-log`). */
  traceSink?: (line: string) => void;
  /** Ring changes during each safety phase (`--changes`, changes.ts); undefined: none (the traces of runs without changes do not move). */
  changes?: ChangeMode | undefined;
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
  skewMsMax: 120_000,
};

/** Bounds of the phases, in virtual ms. */
const BOOT_MS_MAX = 30_000;
const SAFETY_MS_MAX = 10 * 60_000;
const DRAIN_MS_MAX = 30_000;
/** After heal every node must see every node alive, on one ring, within this. */
const RING_AGREEMENT_MS_MAX = 30_000;
/**
 * Quiet time after heal before the checks: messages already in flight when
 * the faults stopped (slow ones take up to 4 s) land first.
 */
const SETTLE_MS = 5_000;
/**
 * DESIGN §1.3: after heal, replicas converge through hinted handoff and
 * anti-entropy "with no client reads needed", within this bound. Past it the
 * checker fails the run, then read-repairs so the set check still runs.
 */
const PASSIVE_REPAIR_MS = 60_000;
/**
 * With --changes: after heal, every ring change of the round must be finished
 * within this (the claimant makes one change at a time; each streams its
 * partitions at the transfer throttle and clears them tick by tick).
 */
const CHANGES_MS_MAX = 120_000;
/** Ring changes are made in this window of each safety phase (the workload runs for ~5 s). */
const CHANGES_TIMING = { atMsMin: 300, atMsMax: 3_000, retryMs: 250 } as const;
/** Hinted handoff must hand every hint back within this, once every node is up. */
const HINT_DRAIN_MS_MAX = 30_000;
/** Read-repair sweeps (every key read at r=all, repair=sync) before convergence is declared failed. */
const REPAIR_SWEEPS_MAX = 5;
const REPAIR_READ_TIMEOUT_MS = 2_000;
const CLIENT_SLACK_MS = 2_000;

/** Client timing: coordinator timeout 1 s (?timeout=1000), think time between iterations. */
const WORKLOAD_TIMING = { timeoutMs: 1000, clientSlackMs: CLIENT_SLACK_MS, thinkMsMin: 10, thinkMsMax: 200 } as const;
/** A fault every 0.2–1.5 s, lasting 0.3–5 s. */
const NEMESIS_TIMING = { faultIntervalMsMin: 200, faultIntervalMsMax: 1500, faultDurationMsMin: 300, faultDurationMsMax: 5000 } as const;

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
  /** How the last round converged: "passive" (no client reads), "read-repair×k", or "none". */
  repair: string;
  /** Virtual ms from heal until the replicas of every key were equal (last round). */
  repairMs: number;
  /** Most siblings in one object a client saw. */
  siblingsMax: number;
  /** Virtual ms from heal until every node saw every node alive on one ring (last round). */
  settleMs: number;
  /** Ring changes made (joins and leaves asked for) over the run; 0 without --changes. */
  changes: number;
  /** Of those, made while the workload and the nemesis ran; nodes added, asked to leave, and gone. */
  changeCounts: { midWorkload: number; joins: number; leaves: number; left: number };
  /** The members at the end of the run. */
  members: string[];
  /** Virtual ms from heal until the ring changes had finished (last round; 0 without --changes). */
  changesMs: number;
  /** Times the membership views came apart again after settling post-heal (all rounds). */
  membershipRelapses: number;
  set: SetReport | undefined;
  recentTrace: string[];
}

export async function runSimulation(input: Partial<SimOptions> & { seed: number }): Promise<SimResult> {
  const options: SimOptions = { ...SIM_DEFAULTS, ...input };
  const run = new SimRun(options, await SimCluster.create(clusterConfig(options), new Scheduler(new Trace(options.traceSink), SCHEDULER_LIMITS_DEFAULT), Prng.root(options.seed)));
  try {
    await run.execute();
  } catch (error) {
    if (!(error instanceof SimLimitError || error instanceof SimEventError)) throw error;
    run.failures.push(`${error.name}: ${error.message}`);
  }
  return run.result();
}

function clusterConfig(options: SimOptions): ClusterConfig {
  return { nodes: options.nodes, replicas: options.replicas, partitions: options.partitions, siblingsMax: LIMITS.siblingsMaxDefault };
}

/** One run's state: the cluster, the workload, the nemesis and what the checkers found. */
class SimRun {
  readonly failures: string[] = [];
  private readonly scheduler: Scheduler;
  private readonly workload: Workload;
  private readonly nemesis: Nemesis;
  private readonly changes: ChangeDriver | undefined;
  private changesMs = 0;
  /** Picks the nodes the checker's own reads go to. */
  private readonly checkerRandom: Prng;
  private readonly w: number;
  /** Virtual time at which each finished round's checks began (its copies were then whole). */
  private readonly roundEndsMs: number[] = [];
  private repair = { how: 'none', ms: 0 };
  private set: SetReport | undefined;
  private siblingsMax = 0;
  /** Virtual ms from heal until every node saw every node alive on one ring (last round). */
  private settleMs = 0;
  /** Times the membership views came apart again after they had settled post-heal. */
  private membershipRelapses = 0;
  private readonly dots = new DotRegistry();

  constructor(
    private readonly options: SimOptions,
    private readonly cluster: SimCluster,
  ) {
    const majority = Math.floor(options.replicas / 2) + 1;
    const r = options.r ?? majority;
    this.w = options.w ?? majority;
    assert(r >= 1 && r <= options.replicas && this.w >= 1 && this.w <= options.replicas, 'sim: r and w must be in 1..N');
    assert(options.rounds >= 1, 'sim: at least one round');
    const root = Prng.root(options.seed);
    this.scheduler = cluster.scheduler;
    this.checkerRandom = root.fork('checker');
    const workloadConfig: WorkloadConfig = { clients: options.clients, keys: options.keys, steps: options.steps, r, w: this.w, ...WORKLOAD_TIMING };
    this.workload = new Workload(cluster, root.fork('workload'), workloadConfig, (where, key, object) => this.sawObject(where, key, object));
    const downMax = Math.max(0, Math.min(2, Math.floor((options.nodes - 1) / 2)));
    this.nemesis = new Nemesis(cluster, root.fork('nemesis'), { ...NEMESIS_TIMING, downMax, wipes: true, skewMsMax: options.skewMsMax });
    this.changes = options.changes === undefined ? undefined : new ChangeDriver(cluster, root.fork('changes'), { ...CHANGES_TIMING, mode: options.changes, hostsMax: HOSTS_MAX });
  }

  async execute(): Promise<void> {
    await this.cluster.startAll();
    if (!(await this.scheduler.runUntil(() => membershipSettled(this.cluster), this.scheduler.nowMs + BOOT_MS_MAX))) {
      this.failures.push(`boot: membership not settled within ${BOOT_MS_MAX} ms: ${membershipDisagreements(this.cluster, 10).join('; ')}`);
    }
    for (let round = 1; round <= this.options.rounds && this.failures.length === 0; round++) {
      await this.safety(round);
      if (!(await this.liveness(round))) break;
      await this.check();
    }
    this.failures.push(...this.cluster.bugReports.map((bug) => `bug: ${bug}`));
  }

  /** The workload runs its steps while the nemesis injects faults. */
  private async safety(round: number): Promise<void> {
    this.trace(`round ${round} safety`);
    this.workload.start();
    if (this.options.faults) this.nemesis.start();
    this.changes?.start();
    if (!(await this.scheduler.runUntil(() => this.workload.idle, this.scheduler.nowMs + SAFETY_MS_MAX))) {
      this.workload.stop();
      this.trace('safety phase hit its bound; workload stopped');
    }
  }

  /** Faults stop, the network heals, every node is up; in-flight calls finish and the rings agree. */
  private async liveness(round: number): Promise<boolean> {
    this.trace(`round ${round} liveness`);
    await this.nemesis.healAll();
    let healedMs = this.scheduler.nowMs;
    if (this.changes !== undefined) {
      await this.changes.flush();
      if (!(await this.scheduler.runUntil(() => changesFinished(this.cluster), healedMs + CHANGES_MS_MAX))) {
        this.failures.push(`liveness: ring changes not finished ${CHANGES_MS_MAX} ms after heal: ${changesUnfinished(this.cluster, 10).join('; ')}`);
        return false;
      }
      this.changesMs = this.scheduler.nowMs - healedMs;
      this.trace(`ring changes finished after ${this.changesMs} ms`);
      // The bounds that follow (membership, passive repair) count from here: data moved by
      // the changes is where it belongs only now.
      healedMs = this.scheduler.nowMs;
    }
    if (!(await this.scheduler.runUntil(() => membershipSettled(this.cluster), healedMs + RING_AGREEMENT_MS_MAX))) {
      this.failures.push(`liveness: membership not settled ${RING_AGREEMENT_MS_MAX} ms after heal: ${membershipDisagreements(this.cluster, 10).join('; ')}`);
      return false;
    }
    this.settleMs = this.scheduler.nowMs - healedMs;
    if (!(await this.scheduler.runUntil(() => this.workload.idle, this.scheduler.nowMs + DRAIN_MS_MAX))) {
      this.failures.push(`liveness: client calls still pending ${DRAIN_MS_MAX} ms after heal`);
      return false;
    }
    this.repair = await repairAll(this.cluster, this.workload.keys, this.checkerRandom, healedMs);
    // Messages in flight at heal (slow ones take seconds) may still land: let them, then converge again.
    await this.scheduler.runUntil(() => false, Math.max(this.scheduler.nowMs, healedMs + SETTLE_MS));
    if (convergenceViolations(this.cluster, this.workload.keys).length > 0) {
      this.repair = await repairAll(this.cluster, this.workload.keys, this.checkerRandom, healedMs);
    }
    if (this.repair.how !== 'passive') {
      this.failures.push(`convergence: replicas still differed ${PASSIVE_REPAIR_MS} ms after heal without client reads (hinted handoff + anti-entropy); read repair: ${this.repair.how}`);
    }
    if (!(await this.scheduler.runUntil(() => hintsPending(this.cluster) === 0, this.scheduler.nowMs + HINT_DRAIN_MS_MAX))) {
      this.failures.push(`liveness: ${hintsPending(this.cluster)} hints still pending ${HINT_DRAIN_MS_MAX} ms after repair, with every node up: ${hintHolders(this.cluster).join('; ')}`);
    }
    return true;
  }

  private async check(): Promise<void> {
    const keys = this.workload.keys;
    const diverged = convergenceViolations(this.cluster, keys);
    if (diverged.length > 0) this.failures.push(`convergence: replicas differ after ${this.repair.ms} ms of repair: ${listed(diverged)}`);
    this.roundEndsMs.push(this.scheduler.nowMs);
    await this.membershipStillSettled();
    const finalItems = await finalRead(this.cluster, keys, this.checkerRandom, this.failures);
    const adds = this.workload.adds.filter((add) => finalItems.has(add.key));
    this.set = checkSet(adds, finalItems, (add) => this.durable(add));
    this.failures.push(...setViolations(this.set));
    this.failures.push(...storeViolations(this.cluster, (value) => this.workload.contextByValue.get(value), this.dots));
    // A hint can be a write's only acknowledged copy (w = 1): a leaver hands its hints on before it goes.
    if (this.cluster.leftWithHints.length > 0) this.failures.push(`safety: nodes left holding hints: ${this.cluster.leftWithHints.join('; ')}`);
    this.failures.push(...this.dots.violations.splice(0));
  }

  /**
   * A failure detector may still flip a live node to dead after the heal (a
   * suspicion raised during the faults that expires before it is refuted).
   * Counted; the run fails only if the views do not settle again in time.
   */
  private async membershipStillSettled(): Promise<void> {
    if (membershipSettled(this.cluster)) return;
    const startMs = this.scheduler.nowMs;
    const what = membershipDisagreements(this.cluster, 10).join('; ');
    this.membershipRelapses++;
    this.trace(`membership relapsed after settling: ${what}`);
    if (!(await this.scheduler.runUntil(() => membershipSettled(this.cluster), startMs + RING_AGREEMENT_MS_MAX))) {
      this.failures.push(`liveness: membership relapsed after settling (${what}) and did not settle again within ${RING_AGREEMENT_MS_MAX} ms`);
    } else {
      this.trace(`membership settled again after ${this.scheduler.nowMs - startMs} ms`);
    }
  }

  /**
   * The wipe rule (see nemesis.ts): with w ≥ 2 every acknowledged add is
   * durable; with w = 1 only if no wipe happened from its start to the end
   * of its round (after which every primary held it).
   */
  private durable(add: AddRecord): boolean {
    // An add acknowledged by w nodes survives fewer than w lost disks (wipes, machines lost for good)
    // between its start and its round's checks; as many losses may have taken every copy.
    const roundEndMs = this.roundEndsMs.find((end) => end >= add.startMs) ?? Infinity;
    const losses = this.cluster.wipeTimesMs.filter((wipeMs) => wipeMs >= add.startMs && wipeMs <= roundEndMs).length;
    return losses < this.w;
  }

  private sawObject(where: string, key: string, object: VersionedObject): void {
    this.siblingsMax = Math.max(this.siblingsMax, object.siblings.length);
    this.dots.observe(`${this.scheduler.nowMs} ${where}`, key, object);
    const violations = objectViolations(`${this.scheduler.nowMs} ${where}`, object, (value) => this.workload.contextByValue.get(value));
    this.failures.push(...violations);
  }

  private trace(what: string): void {
    this.scheduler.trace.record(`${this.scheduler.nowMs} ${what}`);
  }

  result(): SimResult {
    const { workload, set, failures } = this;
    return {
      seed: this.options.seed,
      ok: failures.length === 0,
      failures,
      trace: this.scheduler.trace.digest(),
      ops: workload.ops,
      attempted: workload.adds.length,
      acked: workload.count('acked'),
      unknown: workload.count('unknown') + workload.count('pending'),
      failed: workload.count('failed'),
      lost: set?.lost.length ?? 0,
      recovered: set?.recovered ?? 0,
      faults: this.nemesis.faults,
      events: this.scheduler.eventsRun,
      virtualMs: this.scheduler.nowMs,
      repair: this.repair.how,
      repairMs: this.repair.ms,
      siblingsMax: this.siblingsMax,
      settleMs: this.settleMs,
      membershipRelapses: this.membershipRelapses,
      changes: this.changes?.made ?? 0,
      changeCounts: { midWorkload: this.changes?.madeMidWorkload ?? 0, joins: this.cluster.counts.joins, leaves: this.cluster.counts.leaves, left: this.cluster.counts.left },
      members: [...this.cluster.ids],
      changesMs: this.changesMs,
      set,
      recentTrace: this.scheduler.trace.recent(),
    };
  }
}

/** Hints held by all nodes together (0 when the core has no hinted handoff). */
function hintsPending(cluster: SimCluster): number {
  let pending = 0;
  for (const id of cluster.ids) pending += cluster.node(id)?.status().hints.pending ?? 0;
  return pending;
}

/** Hosts a run may make (the initial nodes and every added one). */
const HOSTS_MAX = 32;

/** The ring changes asked for have finished: see changesUnfinished. */
function changesFinished(cluster: SimCluster): boolean {
  return changesUnfinished(cluster, 1).length === 0;
}

/**
 * What keeps the ring changes from being finished (at most `limit` items):
 * a node asked to leave that has not left (and been stopped) yet; a member
 * not up, without a ring, or whose ring lists pending transfers, owners that
 * are not exactly the members, or whose transfer senders are still busy.
 */
function changesUnfinished(cluster: SimCluster, limit: number): string[] {
  const out: string[] = [];
  for (const id of cluster.leavingIds()) {
    const node = cluster.node(id);
    const why = node === undefined ? cluster.host(id).state : `${node.membership.self().status}; hints ${JSON.stringify(node.status().hints.byTarget)}; owns ${node.status().ring.partitionsOwned}`;
    out.push(`${id} has not left (${why})`);
  }
  const members = [...cluster.ids].sort().join(',');
  for (const id of cluster.ids) {
    if (out.length >= limit) break;
    const node = cluster.node(id);
    const ring = node?.rings.current;
    if (node === undefined || cluster.host(id).state !== 'up') out.push(`${id} is not up`);
    else if (ring === undefined) out.push(`${id} has no ring`);
    else if ((ring.pending?.length ?? 0) > 0) {
      const first = ring.pending!.slice(0, 3).map((t) => `${t.partition}:${t.from}→${t.to}`).join(' ');
      out.push(`${id}: ring v${ring.version} has ${ring.pending!.length} pending transfers (${first}); claimant sees ${JSON.stringify(node.status().transfers).slice(0, 200)}`);
    }
    else if ([...new Set(ring.owners)].sort().join(',') !== members) out.push(`${id}: ring v${ring.version} owners ${[...new Set(ring.owners)].sort().join(',')} are not the members ${members}`);
    else {
      const transfers = node.transfers.status();
      if (transfers.active > 0 || transfers.verifiedAwaitingRing > 0) out.push(`${id}: transfers busy (${transfers.active} active, ${transfers.verifiedAwaitingRing} awaiting the ring)`);
    }
  }
  return out.slice(0, limit);
}

/** Which node holds hints for which target ("n2 → n5: 3"). */
function hintHolders(cluster: SimCluster): string[] {
  const out: string[] = [];
  for (const id of cluster.ids) {
    const byTarget = cluster.node(id)?.status().hints.byTarget ?? {};
    for (const [target, count] of Object.entries(byTarget)) {
      const seenAs = cluster.node(id)?.membership.get(target)?.status ?? 'unknown';
      out.push(`${id} → ${target}${cluster.host(target).left ? ' (left)' : ''}: ${count}, seen by ${id} as ${seenAs}`);
    }
  }
  return out;
}

/** Every node is up, sees every node as alive, and computes the same ring. */
function membershipSettled(cluster: SimCluster): boolean {
  return membershipDisagreements(cluster, 1).length === 0;
}

/** What keeps the membership from being settled (at most `limit` items). */
function membershipDisagreements(cluster: SimCluster, limit: number): string[] {
  const out: string[] = [];
  let reference: { id: string; owners: string } | undefined;
  for (const id of cluster.ids) {
    const node = cluster.node(id);
    if (node === undefined || cluster.host(id).state !== 'up') {
      out.push(`${id} is not up`);
    } else {
      const members = node.members();
      for (const other of cluster.ids) {
        const seen = members.find((m) => m.id === other);
        if (seen?.status !== 'alive') out.push(`${id} sees ${other} as ${seen === undefined ? 'unknown' : `${seen.status}@${seen.incarnation}`}`);
      }
      const owners = node.ring().owners.join(',');
      if (reference === undefined) reference = { id, owners };
      else if (owners !== reference.owners) out.push(`${id} and ${reference.id} have different rings`);
    }
    if (out.length >= limit) return out.slice(0, limit);
  }
  return out;
}

/**
 * Repair after heal: first the background mechanisms alone (hinted handoff,
 * anti-entropy; no client reads) until PASSIVE_REPAIR_MS after the heal, then
 * sweeps of read repair: every key read at r=N with repair=sync, until every
 * primary holds an equal copy. `ms` counts from the heal.
 */
async function repairAll(cluster: SimCluster, keys: readonly string[], random: Prng, healedMs: number): Promise<{ how: string; ms: number }> {
  const scheduler = cluster.scheduler;
  const converged = (): boolean => convergenceViolations(cluster, keys).length === 0;
  const deadlineMs = Math.max(scheduler.nowMs, healedMs + PASSIVE_REPAIR_MS);
  if (await scheduler.runUntil(converged, deadlineMs)) return { how: 'passive', ms: scheduler.nowMs - healedMs };
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
    await scheduler.drive(Promise.all(reads), REPAIR_READ_TIMEOUT_MS + 2 * CLIENT_SLACK_MS);
    if (converged()) return { how: `read-repair×${sweep}`, ms: scheduler.nowMs - healedMs };
  }
  return { how: 'none', ms: scheduler.nowMs - healedMs };
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
      object = await cluster.scheduler.drive(read, REPAIR_READ_TIMEOUT_MS + 2 * CLIENT_SLACK_MS);
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

/**
 * The report for a failed seed: the reason and the command that replays it.
 * `flags` are the run's other options (e.g. `--changes --w 1`): a seed
 * replays only with the options it ran with.
 */
export function formatFailure(result: SimResult, flags: readonly string[] = []): string {
  const replay = ['npm run sim --', '--seed', String(result.seed), ...flags].join(' ');
  return [`FAILED seed=${result.seed}: ${result.failures.join('\n  ')}`, `replay: ${replay}`].join('\n');
}

export function formatResult(result: SimResult, nodes: number): string {
  return (
    `seed=${result.seed} nodes=${nodes} ops=${result.ops} acked=${result.acked} unknown=${result.unknown} failed=${result.failed} ` +
    `lost=${result.lost} recovered=${result.recovered} siblings≤${result.siblingsMax} faults=${result.faults} alive-after=${result.settleMs}ms${result.membershipRelapses > 0 ? `(relapses=${result.membershipRelapses})` : ''} converged=${result.repair}/${result.repairMs}ms ` +
    `${result.changes > 0 ? `changes=${result.changes}/${result.changesMs}ms ` : ''}events=${result.events} vtime=${(result.virtualMs / 1000).toFixed(1)}s trace=${result.trace.slice(0, 16)} ${result.ok ? 'ok' : 'FAILED'}`
  );
}
