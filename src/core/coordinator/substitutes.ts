import type { NodeId } from '../messages.js';
import type { CoordinatorDeps } from './context.js';

/**
 * The fallbacks one request may use in place of failed primaries, in
 * preference-list order, each at most once. Empty when sloppy quorum is off
 * (`--hinted-handoff off`): then a failed primary simply does not count.
 */
export class Substitutes {
  private index = 0;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly fallbacks: readonly NodeId[],
  ) {}

  next(): NodeId | undefined {
    if (!this.deps.sloppyQuorum) return undefined;
    while (this.index < this.fallbacks.length) {
      const candidate = this.fallbacks[this.index++]!;
      if (candidate === this.deps.self || this.deps.isAvailable(candidate)) return candidate;
    }
    return undefined;
  }
}
