import type { NodeId, PeerReply, PeerRequest } from '../core/messages.js';

/**
 * Request/response between nodes. Production: undici Pool per peer, msgpack
 * bodies, messages to one peer coalesced per event-loop turn. Simulator: a
 * virtual network with seeded loss, delay, reorder and partitions.
 *
 * Contract: the promise rejects (never hangs) on an unreachable peer, a
 * dropped message or after `timeoutMs`; an `error` reply is a resolved value.
 */
export interface Transport {
  request(to: NodeId, message: PeerRequest, timeoutMs: number): Promise<PeerReply>;
}

/** The receiving side: what a node does with a peer's request. Must not throw for bad input; reply with an error. */
export type PeerHandler = (message: unknown) => Promise<PeerReply>;
