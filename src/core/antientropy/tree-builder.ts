import type { Clock, TimerId } from '../../ports/clock.js';
import type { TreeStore } from './tree-store.js';

/**
 * Rebuilds a node's trees on start in the background: one bounded scan step
 * per timer tick, so requests are served between steps and a large store
 * never blocks the node. Exchanges of a partition wait until it is built.
 */
export class TreeBuilder {
  private timer: TimerId | undefined;
  private stopped = false;
  ticks = 0;

  constructor(
    private readonly trees: TreeStore,
    private readonly clock: Clock,
    private readonly keysPerTick: number,
    private readonly tickMs: number,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
  }

  private schedule(): void {
    if (this.stopped || this.trees.allBuilt) return;
    this.timer = this.clock.setTimer(this.tickMs, () => {
      this.timer = undefined;
      this.ticks++;
      this.trees.buildStep(this.keysPerTick);
      this.schedule();
    });
  }
}
