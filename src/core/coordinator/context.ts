import type { Clock } from '../../ports/clock.js';
import type { Transport } from '../../ports/transport.js';
import type { NodeId } from '../messages.js';
import type { Placement } from '../ring/placement.js';
import type { HintQueue } from '../handoff/hint-queue.js';
import type { Replica } from '../replica/replica.js';
import type { KeyEpochs } from '../version/key-epochs.js';
import type { ActorId } from '../version/types.js';

/** What the coordinator needs from its node; injected so the simulator runs the same code. */
export interface CoordinatorDeps {
  readonly self: NodeId;
  /** This node's actor base: node id + data-directory epoch (dots use it plus a key epoch). */
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
  /** Chooses the actor (node actor + key epoch) each write's dot is minted with. */
  readonly keyEpochs: KeyEpochs;
  /**
   * Replica slots of writes still being sent, the request answered or not
   * (they go on in the background, and a failing one may leave a hint here):
   * a leaving node waits for them before it goes.
   */
  readonly slotsInFlight: { count: number };
}
