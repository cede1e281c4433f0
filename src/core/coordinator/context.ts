import type { Clock } from '../../ports/clock.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId } from '../messages.js';
import type { Placement } from '../ring/placement.js';
import type { HintQueue } from '../handoff/hint-queue.js';
import type { Replica } from '../replica/replica.js';
import type { DotClock } from '../version/dot-clock.js';
import type { ActorId } from '../version/types.js';

/** What the coordinator needs from its node; injected so the simulator runs the same code. */
export interface CoordinatorDeps {
  readonly self: NodeId;
  /** Mints this node's dots: node id + data-directory epoch. */
  readonly actor: ActorId;
  readonly replica: Replica;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly placement: Placement;
  /** Liveness as the membership sees it: dead members are skipped, not waited for. */
  isAvailable(node: NodeId): boolean;
  readonly siblingsMax: number;
  /** Hints this node holds as a fallback. */
  readonly hints: HintQueue;
  /** Sloppy quorum: use fallbacks (with hints) for failed primaries (`--hinted-handoff on`). */
  readonly sloppyQuorum: boolean;
  /** This actor's counter across keys (dots never repeat, even after reaping). */
  readonly dotClock: DotClock;
}
