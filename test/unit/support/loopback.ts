import { peerPackr } from '../../../src/adapters/msgpack.js';
import type { KvNode } from '../../../src/core/kv-node.js';
import type { PeerReply, PeerRequest } from '../../../src/core/messages.js';
import type { Random } from '../../../src/ports/random.js';

/** Deterministic enough for unit tests: a golden-ratio walk, not a PRNG. */
export class StepRandom implements Random {
  private n = 0;
  next(): number {
    this.n = (this.n + 0.618034) % 1;
    return this.n;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}

/** Delivers one peer message in-process, through msgpack both ways, so nothing is shared by reference. */
export async function deliver(target: KvNode, message: PeerRequest): Promise<PeerReply> {
  const reply = await target.handlePeer(peerPackr.unpack(peerPackr.pack(message)));
  return peerPackr.unpack(peerPackr.pack(reply)) as PeerReply;
}
