import { assert } from '../core/assert.js';
import type { NodeId } from '../core/messages.js';
import { involves } from '../core/ring/ring.js';
import type { SimCluster } from './cluster.js';
import type { Prng } from './prng.js';
import type { SimEvent } from './virtual-clock.js';

/**
 * Ring changes during a safety phase (`npm run sim -- --changes`): a node
 * joins (`dynakv cluster add`) and/or a member leaves (`dynakv cluster
 * leave`) while the workload runs and the nemesis injects faults. What each
 * round does is drawn from the run's own `changes` stream, so runs without
 * changes draw nothing and keep their traces.
 *
 *  - join: SimCluster.add() at a seeded time of the safety phase;
 *  - leave: SimCluster.leave() of a seeded member at a seeded time;
 *  - both: the two, in a seeded order, at two seeded times (the claimant makes
 *    one change at a time: the second waits for the first one's transfers);
 *  - remove (not in mixed): a seeded member's machine is lost for good, and
 *    once the others see it dead it is force-removed (`dynakv cluster
 *    remove`); its partitions are streamed from the surviving replicas.
 *
 * Like an operator, the driver only asks a running node to leave (the CLI
 * refuses a down or paused one) and only while more than N members remain;
 * when no member qualifies it tries again a moment later. Changes not made by
 * the end of the safety phase are made right after the heal (`flush`), so
 * every planned change happens. Whether a change has finished (ring settled,
 * transfers idle, the leaver gone) is the simulation's liveness wait.
 */

export type ChangeMode = 'join' | 'leave' | 'both' | 'mixed' | 'remove';
export const CHANGE_MODES: readonly ChangeMode[] = ['join', 'leave', 'both', 'mixed', 'remove'];

type ChangeKind = 'join' | 'leave' | 'remove';

export interface ChangesConfig {
  mode: ChangeMode;
  /** Window (from the start of the safety phase) in which changes are made. */
  atMsMin: number;
  atMsMax: number;
  /** Wait before trying a leave again when no member can be asked. */
  retryMs: number;
  /** Members (hosts ever made) at most: no join beyond it. */
  hostsMax: number;
}

/** Removal requests at most (at retryMs apart: minutes of virtual time, far past any suspicion timeout). */
const REMOVE_TRIES_MAX = 2000;

export class ChangeDriver {
  /** Changes asked for over the run, for the summary line. */
  made = 0;
  /** Of those, made while the workload and the nemesis were running (not flushed after the heal). */
  madeMidWorkload = 0;
  private readonly planned = new Map<SimEvent, ChangeKind>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly random: Prng,
    readonly config: ChangesConfig,
  ) {
    assert(config.atMsMin >= 0 && config.atMsMin <= config.atMsMax, 'changes: bad window');
    assert(config.retryMs >= 1, 'changes: bad retry delay');
  }

  /** Plans this round's changes (a safety phase is starting). */
  start(): void {
    assert(this.planned.size === 0, 'changes: a round is already planned');
    const mode = this.config.mode === 'mixed' ? this.random.pick(['join', 'leave', 'both'] as const) : this.config.mode;
    const kinds: ChangeKind[] = mode === 'both' ? this.random.shuffle(['join', 'leave'] as const) : [mode];
    const times = kinds.map(() => this.random.between(this.config.atMsMin, this.config.atMsMax)).sort((a, b) => a - b);
    this.record(`plan ${kinds.map((kind, i) => `${kind}@+${times[i]}`).join(' ')}`);
    kinds.forEach((kind, i) => this.plan(kind, times[i]!));
  }

  /** The safety phase ended (after the heal: every member up): make the changes still planned, now. */
  async flush(): Promise<void> {
    const left = [...this.planned];
    this.planned.clear();
    for (const [event, kind] of left) {
      this.cluster.scheduler.cancel(event);
      this.record(`${kind} made after the safety phase`);
      await this.make(kind, true);
    }
  }

  private plan(kind: ChangeKind, delayMs: number): void {
    const event = this.cluster.scheduler.after(delayMs, `change ${kind}`, () => {
      this.planned.delete(event);
      void this.make(kind, false).then(
        (made) => {
          if (made) this.madeMidWorkload++;
        },
        (error: unknown) => this.cluster.reportBug(`change ${kind} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
      );
    });
    this.planned.set(event, kind);
  }

  /** Makes one change now; whether it was made (false: skipped or postponed). */
  private async make(kind: ChangeKind, last: boolean): Promise<boolean> {
    if (kind === 'join') {
      if (this.cluster.hosts.size >= this.config.hostsMax) {
        this.record('join skipped: host limit');
        return false;
      }
      this.made++;
      await this.cluster.add();
      return true;
    }
    const candidates = this.leaveCandidates();
    if (candidates.length === 0) {
      if (last) this.record(`${kind} skipped: no member may go`);
      else {
        this.record(`${kind} postponed ${this.config.retryMs} ms: no member may go now`);
        this.plan(kind, this.config.retryMs);
      }
      return false;
    }
    this.made++;
    const id = this.random.pick(candidates);
    if (kind === 'leave') this.cluster.leave(id);
    else {
      this.cluster.lose(id);
      this.removeWhenDead(id);
    }
    return true;
  }

  /**
   * Asks for the removal until the rings of the running members no longer
   * list the node, as an operator would watch `cluster status`: a member
   * sees the lost node as dead only after its suspicion, and one that
   * accepted the removal may itself be wiped before its gossip spread it.
   */
  private removeWhenDead(id: NodeId, tries = 1): void {
    if (this.droppedEverywhere(id)) return;
    this.cluster.removeLost(id);
    if (tries >= REMOVE_TRIES_MAX) return this.cluster.reportBug(`remove ${id}: still in the ring after ${tries} requests`);
    this.cluster.scheduler.after(this.config.retryMs, `change remove ${id}`, () => this.removeWhenDead(id, tries + 1));
  }

  private droppedEverywhere(id: NodeId): boolean {
    return this.cluster.upIds().every((member) => {
      const ring = this.cluster.node(member)?.rings.current;
      return ring !== undefined && !involves(ring, id);
    });
  }

  /** Running members that may be asked to leave, if more than N members would remain. */
  private leaveCandidates(): NodeId[] {
    const cluster = this.cluster;
    const staying = cluster.ids.length - cluster.leavingIds().length;
    if (staying <= cluster.config.replicas) return [];
    return cluster.ids.filter((id) => {
      const host = cluster.host(id);
      return host.state === 'up' && !host.booting && !host.leaveRequested && host.kv?.ready() === true;
    });
  }

  private record(what: string): void {
    this.cluster.scheduler.trace.record(`${this.cluster.scheduler.nowMs} changes ${what}`);
  }
}
