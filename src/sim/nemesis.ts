import { assert } from '../core/assert.js';
import type { NodeId } from '../core/messages.js';
import type { SimCluster } from './cluster.js';
import { CALM_NETWORK } from './network.js';
import type { Prng } from './prng.js';
import type { SimEvent } from './virtual-clock.js';

/**
 * Seeded faults during a safety phase. Every few hundred virtual ms the
 * nemesis draws one fault; most faults carry a duration after which they are
 * undone (a killed node restarts, a paused one resumes, a partition heals, a
 * network setting returns to calm). `healAll` ends the safety phase: the
 * liveness phase that follows runs with no faults, the network healed and
 * every node up.
 *
 * The wipe rule. A wipe destroys a node's acknowledged copies, so it may lose
 * data however correct the store is. The nemesis wipes at most ONE node per
 * round (safety phase), and every round ends with a liveness phase that heals
 * everything and waits until all primaries of every key hold equal copies
 * (checked; the final read then sees every surviving add). The set checker
 * holds an acknowledged add to be durable when
 *  - w ≥ 2: it was on at least two distinct nodes when acknowledged, and only
 *    one node's copies can be missing at any time, so one copy survives; or
 *  - w = 1: no wipe happened from the add's start to the end of its round
 *    (its only copy may have been on the wiped node; such adds are counted as
 *    `lostToWipe`, not as failures).
 * A durable add missing from the final read is a bug in the store.
 * (Kills never lose data: the store holds every put that resolved.)
 *
 * Ring changes (--changes, see changes.ts). A decommission takes seconds to
 * minutes in production, and operators expect it to survive what happens
 * meanwhile: the nemesis kills, pauses, partitions, skews and slows a
 * leaving node (and a joining one) like any other, and the checkers must
 * still hold. The one thing it does not do is wipe a node that is leaving:
 * an operator does not wipe a disk they are draining, and a wiped node comes
 * back as a brand-new empty node with no memory of the leave, which is the
 * add scenario, not a leave. A joining node may be wiped (it restarts empty
 * and joins again).
 */

export interface NemesisConfig {
  faultIntervalMsMin: number;
  faultIntervalMsMax: number;
  faultDurationMsMin: number;
  faultDurationMsMax: number;
  /** Nodes down or paused at once (at least one node stays up). */
  downMax: number;
  /** Disk wipes on (at most one per round, see the wipe rule). */
  wipes: boolean;
  /** Largest clock skew drawn, either direction. */
  skewMsMax: number;
}

type FaultKind = 'partition' | 'kill' | 'pause' | 'network' | 'skew' | 'wipe';

const FAULT_KINDS: readonly FaultKind[] = ['partition', 'kill', 'pause', 'network', 'skew', 'wipe'];
const FAULT_WEIGHTS: readonly number[] = [4, 2, 2, 3, 1, 1];

/** Network settings the nemesis picks from: probabilities of loss/duplication/slowness. */
const RATES: readonly number[] = [0.01, 0.05, 0.2];

export class Nemesis {
  /** Faults injected over the run. */
  faults = 0;
  private wipesThisRound = 0;
  private next: SimEvent | undefined;
  private readonly undo = new Set<SimEvent>();
  private active = false;

  constructor(
    private readonly cluster: SimCluster,
    private readonly random: Prng,
    readonly config: NemesisConfig,
  ) {
    assert(config.faultIntervalMsMin >= 1 && config.faultIntervalMsMin <= config.faultIntervalMsMax, 'nemesis: bad interval');
    assert(config.faultDurationMsMin >= 1 && config.faultDurationMsMin <= config.faultDurationMsMax, 'nemesis: bad duration');
    assert(config.downMax >= 0 && config.downMax < cluster.ids.length, 'nemesis: at least one node stays up');
  }

  /** Starts a safety phase (a round). */
  start(): void {
    assert(!this.active, 'nemesis: already active');
    this.active = true;
    this.wipesThisRound = 0;
    this.scheduleNext();
  }

  /** Ends the safety phase: no new faults, and every fault in force is undone. */
  async healAll(): Promise<void> {
    this.active = false;
    if (this.next !== undefined) this.cluster.scheduler.cancel(this.next);
    for (const event of this.undo) this.cluster.scheduler.cancel(event);
    this.undo.clear();
    const cluster = this.cluster;
    cluster.scheduler.trace.record(`${cluster.scheduler.nowMs} nemesis heal-all`);
    cluster.network.heal();
    cluster.network.faults = { ...CALM_NETWORK };
    for (const id of cluster.ids) {
      const host = cluster.host(id);
      if (host.skewMs !== 0) cluster.setSkew(id, 0);
      if (host.state === 'paused') cluster.resume(id);
      if (host.state === 'down') await cluster.restart(id);
    }
  }

  private scheduleNext(): void {
    const delayMs = this.random.between(this.config.faultIntervalMsMin, this.config.faultIntervalMsMax);
    this.next = this.cluster.scheduler.after(delayMs, 'nemesis', () => {
      if (!this.active) return;
      this.inject();
      this.scheduleNext();
    });
  }

  private inject(): void {
    const weights = FAULT_WEIGHTS.map((w, i) => (this.possible(FAULT_KINDS[i]!) ? w : 0));
    if (weights.every((w) => w === 0)) return;
    const kind = FAULT_KINDS[this.random.weighted(weights)]!;
    const durationMs = this.random.between(this.config.faultDurationMsMin, this.config.faultDurationMsMax);
    this.faults++;
    switch (kind) {
      case 'partition':
        return this.partition(durationMs);
      case 'kill':
        return this.kill(durationMs);
      case 'pause':
        return this.pause(durationMs);
      case 'network':
        return this.network(durationMs);
      case 'skew':
        return this.skew();
      case 'wipe':
        return this.wipe();
    }
  }

  private possible(kind: FaultKind): boolean {
    const up = this.cluster.upIds().length;
    const stopped = this.cluster.ids.length - up;
    switch (kind) {
      case 'kill':
      case 'pause':
        return stopped < this.config.downMax && up > 1;
      case 'wipe':
        return this.config.wipes && this.wipesThisRound === 0 && this.wipeable().length > 0;
      default:
        return true;
    }
  }

  /** Random halves, a bridge (one node sees both sides, Jepsen's majorities-ring cousin), or one node isolated. */
  private partition(durationMs: number): void {
    const ids = this.random.shuffle(this.cluster.ids);
    const network = this.cluster.network;
    network.heal();
    const shape = this.random.pick(['halves', 'bridge', 'isolate'] as const);
    if (shape === 'isolate') {
      network.cutBetween([ids[0]!], ids.slice(1));
    } else {
      const half = Math.floor(ids.length / 2);
      const left = ids.slice(0, half);
      const right = ids.slice(shape === 'bridge' ? half + 1 : half);
      network.cutBetween(left, right);
    }
    this.record(`partition ${shape} ${ids.join(',')} cut=${network.cutLinks}`);
    this.later(durationMs, 'heal partition', () => network.heal());
  }

  private kill(durationMs: number): void {
    const id = this.random.pick(this.cluster.upIds());
    this.cluster.kill(id);
    this.later(durationMs, `restart ${id}`, () => this.background(`restart ${id}`, this.cluster.restart(id)));
  }

  private pause(durationMs: number): void {
    const id = this.random.pick(this.cluster.upIds());
    this.cluster.pause(id);
    this.later(durationMs, `resume ${id}`, () => this.cluster.resume(id));
  }

  private network(durationMs: number): void {
    const network = this.cluster.network;
    const setting = this.random.pick(['loss', 'duplicate', 'slow', 'reorder'] as const);
    const rate = this.random.pick(RATES);
    const faults = { ...network.faults };
    if (setting === 'loss') faults.lossRate = rate;
    if (setting === 'duplicate') faults.duplicateRate = rate;
    if (setting === 'slow') {
      faults.slowRate = rate;
      faults.slowDelayMsMax = this.random.pick([200, 1500, 4000]);
    }
    if (setting === 'reorder') {
      faults.reorder = true;
      faults.delayMsMax = Math.max(faults.delayMsMax, 20);
    }
    network.faults = faults;
    this.record(`network ${setting} ${JSON.stringify(faults)}`);
    this.later(durationMs, `calm network (${setting})`, () => {
      const now = { ...network.faults };
      if (setting === 'loss') now.lossRate = 0;
      if (setting === 'duplicate') now.duplicateRate = 0;
      if (setting === 'slow') now.slowRate = 0;
      if (setting === 'reorder') {
        now.reorder = false;
        now.delayMsMax = CALM_NETWORK.delayMsMax;
      }
      network.faults = now;
    });
  }

  private skew(): void {
    const id = this.random.pick(this.cluster.ids);
    this.cluster.setSkew(id, this.random.between(-this.config.skewMsMax, this.config.skewMsMax));
  }

  private wipe(): void {
    assert(this.config.wipes && this.wipesThisRound === 0, 'nemesis: wipe rule broken');
    this.wipesThisRound++;
    const id = this.random.pick(this.wipeable());
    this.background(`wipe ${id}`, this.cluster.wipe(id));
  }

  /** Members that may be wiped: every one but those leaving (see the header). */
  private wipeable(): NodeId[] {
    return this.cluster.ids.filter((id) => !this.cluster.host(id).leaveRequested);
  }

  private background(what: string, done: Promise<void>): void {
    done.catch((error: unknown) => this.cluster.reportBug(`${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
  }

  private record(what: string): void {
    this.cluster.scheduler.trace.record(`${this.cluster.scheduler.nowMs} fault ${what}`);
  }

  private later(delayMs: number, label: string, action: () => void): void {
    const event = this.cluster.scheduler.after(delayMs, `nemesis ${label}`, () => {
      this.undo.delete(event);
      action();
    });
    this.undo.add(event);
  }
}
