import { peerPackr } from '../adapters/msgpack.js';
import { assert } from '../core/assert.js';
import type { NodeId, PeerReply, PeerRequest } from '../core/messages.js';
import type { PeerHandler, Transport } from '../ports/transport.js';
import type { Prng } from './prng.js';
import type { Scheduler, SimEvent } from './virtual-clock.js';

/**
 * The virtual network between simulated nodes.
 *
 * Every request is packed with the peer port's msgpack configuration when it
 * is sent and unpacked when it is delivered (the reply likewise), so the sim
 * exercises the real encoding and no object is shared between nodes.
 *
 * Semantics (a simplified TCP + HTTP request/response):
 *  - A message travels one hop after a seeded delay (`delayMsMin..delayMsMax`,
 *    or with probability `slowRate` a long one up to `slowDelayMsMax`). With
 *    `reorder` off, a directed link is FIFO; with it on, each message draws its
 *    own delay, so later messages may overtake earlier ones.
 *  - `lossRate`: a request or a reply vanishes; the sender times out.
 *    `duplicateRate`: a request is delivered twice (the second reply is ignored).
 *  - A partition cuts links (both directions). A message on a cut link, checked
 *    when sent and again when it arrives, is dropped silently: like TCP to a
 *    partitioned host, the request rejects at its timeout.
 *  - Down target (killed, not restarted): connection refused, one hop after arrival.
 *  - Paused target: its process runs nothing; a delivered request waits in the
 *    node's gate and is handled when it resumes (if it has not timed out
 *    by then, the sender still sees the reply).
 *  - A target killed while handling a request: the sender gets a connection
 *    reset one hop later; an old life's late reply is never sent.
 *  - Every request settles (resolves or rejects) by its timeout, measured on
 *    the sender; the sender's timeout and reply enter through its own gate
 *    (held while it is paused; dropped once that life is dead, since nothing
 *    of a dead process runs).
 */

export interface NetworkFaults {
  lossRate: number;
  duplicateRate: number;
  reorder: boolean;
  delayMsMin: number;
  delayMsMax: number;
  slowRate: number;
  slowDelayMsMax: number;
}

export const CALM_NETWORK: Readonly<NetworkFaults> = Object.freeze({
  lossRate: 0,
  duplicateRate: 0,
  reorder: false,
  delayMsMin: 1,
  delayMsMax: 3,
  slowRate: 0,
  slowDelayMsMax: 0,
});

/** Delay before a refusal or reset reaches the sender. */
const REFUSAL_DELAY_MS = 1;
/** Stands for the kernel's bounded receive buffer: a paused node holds at most this many calls. */
export const HELD_CALLS_MAX = 100_000;

/** One simulated node as the network sees it (implemented by the cluster's hosts). */
export interface Endpoint {
  readonly id: NodeId;
  /** Peer address, for seed targets "@address". */
  readonly peer: string;
  readonly state: 'up' | 'down' | 'paused';
  /** Incremented on every kill: names one process lifetime. */
  readonly life: number;
  /** Runs `callback` inside the node if `life` is still current: now, or on resume when paused. */
  enter(life: number, label: string, callback: () => void): void;
  /** The running node's peer handler (undefined while down). */
  handler(): PeerHandler | undefined;
}

export class PeerRefusedError extends Error {
  override name = 'PeerRefusedError';
}
export class PeerTimeoutError extends Error {
  override name = 'PeerTimeoutError';
}

interface InFlight {
  readonly id: number;
  readonly from: NodeId;
  readonly fromLife: number;
  readonly to: NodeId | undefined;
  readonly what: string;
  settled: boolean;
  timeout: SimEvent | undefined;
  resolve(reply: PeerReply): void;
  reject(error: Error): void;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  refused: number;
  timedOut: number;
}

export class SimNetwork {
  faults: NetworkFaults = { ...CALM_NETWORK };
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, refused: 0, timedOut: 0 };
  private readonly endpoints = new Map<NodeId, Endpoint>();
  private readonly byPeer = new Map<string, NodeId>();
  /** Unordered pairs "a|b" (a < b) whose link is cut. */
  private readonly cuts = new Set<string>();
  /** Per directed link: the latest delivery time scheduled (FIFO when reorder is off). */
  private readonly linkTail = new Map<string, number>();
  /** Requests delivered to a node and not yet answered, per node: reset when it dies. */
  private readonly handling = new Map<NodeId, Set<InFlight>>();
  private requestSeq = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Prng,
    /** A bug in the code under test seen by the network (a handler that rejected). */
    private readonly onBug: (message: string) => void,
  ) {}

  register(endpoint: Endpoint): void {
    assert(!this.endpoints.has(endpoint.id), `network: ${endpoint.id} registered twice`);
    this.endpoints.set(endpoint.id, endpoint);
    this.byPeer.set(endpoint.peer, endpoint.id);
    this.handling.set(endpoint.id, new Set());
  }

  /** The Transport port for one life of node `from`. */
  transportFor(from: NodeId, fromLife: number): Transport {
    return { request: (to, message, timeoutMs) => this.request(from, fromLife, to, message, timeoutMs) };
  }

  // ---- partitions ----------------------------------------------------------

  cut(a: NodeId, b: NodeId): void {
    if (a !== b) this.cuts.add(pairKey(a, b));
  }

  /** Cuts every link between the two groups. */
  cutBetween(left: readonly NodeId[], right: readonly NodeId[]): void {
    for (const a of left) for (const b of right) this.cut(a, b);
  }

  isCut(a: NodeId, b: NodeId): boolean {
    return a !== b && this.cuts.has(pairKey(a, b));
  }

  heal(): void {
    this.cuts.clear();
  }

  get cutLinks(): number {
    return this.cuts.size;
  }

  // ---- node lifecycle ------------------------------------------------------

  /** Node `id` died: every request it was handling gets a connection reset. */
  nodeDied(id: NodeId): void {
    const handling = this.handling.get(id);
    assert(handling !== undefined, `network: unknown node ${id}`);
    for (const request of handling) this.refuse(request, `connection reset by ${id}`);
    handling.clear();
  }

  // ---- the request path ----------------------------------------------------

  private request(from: NodeId, fromLife: number, target: NodeId, message: PeerRequest, timeoutMs: number): Promise<PeerReply> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, `network: bad timeout ${timeoutMs}`);
    const to = target.startsWith('@') ? this.byPeer.get(target.slice(1)) : this.endpoints.has(target) ? target : undefined;
    const bytes = copyBytes(peerPackr.pack(message));
    return new Promise<PeerReply>((resolve, reject) => {
      const request: InFlight = {
        id: ++this.requestSeq,
        from,
        fromLife,
        to,
        what: `${message.type}#${this.requestSeq}`,
        settled: false,
        timeout: undefined,
        resolve,
        reject,
      };
      this.stats.sent++;
      request.timeout = this.scheduler.after(timeoutMs, `timeout ${from}>${target} ${request.what}`, () => {
        this.enterSender(request, 'timeout', () => this.settle(request, new PeerTimeoutError(`${request.what} to ${target}: no reply within ${timeoutMs} ms`)));
      });
      if (to === undefined) {
        this.refuse(request, `no route to ${target}`);
        return;
      }
      this.scheduler.trace.record(`${this.scheduler.nowMs} send ${from}>${to} ${request.what} ${bytes.length}B`);
      this.transmit(from, to, `deliver ${from}>${to} ${request.what}`, () => this.deliverRequest(request, to, bytes));
    });
  }

  /**
   * Sends one hop: drops it (partition, loss) or schedules `arrive` after a
   * seeded delay; may schedule a duplicate.
   */
  private transmit(from: NodeId, to: NodeId, label: string, arrive: () => void, duplicable = true): void {
    if (this.isCut(from, to)) return this.drop(label, 'partition');
    // Every fate is drawn, whatever the settings, so one setting does not shift the stream for the others.
    const lost = this.random.chance(this.faults.lossRate);
    const duplicated = this.random.chance(this.faults.duplicateRate);
    const delayMs = this.delay(from, to);
    if (lost) return this.drop(label, 'loss');
    this.scheduler.after(delayMs, label, arrive);
    if (duplicated && duplicable) {
      this.stats.duplicated++;
      this.scheduler.after(this.delay(from, to), `${label} (duplicate)`, arrive);
    }
  }

  private deliverRequest(request: InFlight, to: NodeId, bytes: Uint8Array): void {
    if (this.isCut(request.from, to)) return this.drop(request.what, 'partition (in flight)');
    const endpoint = this.endpoints.get(to)!;
    if (endpoint.state === 'down') return this.refuse(request, `connection refused by ${to}`);
    const life = endpoint.life;
    const handling = this.handling.get(to)!;
    handling.add(request);
    endpoint.enter(life, `handle ${request.what}`, () => {
      const handler = endpoint.handler();
      assert(handler !== undefined, `network: ${to} is up without a handler`);
      this.stats.delivered++;
      handler(peerPackr.unpack(bytes)).then(
        (reply) => this.answer(request, to, life, reply),
        (error: unknown) => this.onBug(`${to}.handlePeer rejected ${request.what}: ${String(error)}`),
      );
    });
  }

  private answer(request: InFlight, to: NodeId, life: number, reply: PeerReply): void {
    const endpoint = this.endpoints.get(to)!;
    if (endpoint.life !== life) return; // that process is gone; its sender got a reset
    this.handling.get(to)!.delete(request);
    if (request.settled) return; // timed out (or an earlier copy answered): nobody listens any more
    const bytes = copyBytes(peerPackr.pack(reply));
    this.transmit(to, request.from, `reply ${to}>${request.from} ${request.what}`, () => {
      if (this.isCut(to, request.from)) return this.drop(`reply ${request.what}`, 'partition (in flight)');
      this.enterSender(request, 'reply', () => this.settle(request, peerPackr.unpack(bytes) as PeerReply));
    }, false);
  }

  private refuse(request: InFlight, reason: string): void {
    this.stats.refused++;
    this.scheduler.after(REFUSAL_DELAY_MS, `refused ${request.from}<${request.to ?? '?'} ${request.what}`, () => {
      this.enterSender(request, 'refused', () => this.settle(request, new PeerRefusedError(reason)));
    });
  }

  private drop(label: string, reason: string): void {
    this.stats.dropped++;
    this.scheduler.trace.record(`${this.scheduler.nowMs} drop ${label}: ${reason}`);
  }

  private enterSender(request: InFlight, what: string, callback: () => void): void {
    if (request.settled) return;
    const sender = this.endpoints.get(request.from)!;
    sender.enter(request.fromLife, `${what} ${request.what}`, callback);
  }

  private settle(request: InFlight, outcome: PeerReply | Error): void {
    if (request.settled) return;
    request.settled = true;
    if (request.timeout !== undefined) this.scheduler.cancel(request.timeout);
    if (outcome instanceof PeerTimeoutError) this.stats.timedOut++;
    if (outcome instanceof Error) request.reject(outcome);
    else request.resolve(outcome);
  }

  private delay(from: NodeId, to: NodeId): number {
    const f = this.faults;
    const slow = this.random.chance(f.slowRate);
    const base = this.random.between(f.delayMsMin, f.delayMsMax);
    const extra = this.random.between(0, Math.max(0, f.slowDelayMsMax - f.delayMsMax));
    let delayMs = slow ? base + extra : base;
    if (!f.reorder) {
      const link = `${from}>${to}`;
      const at = Math.max(this.scheduler.nowMs + delayMs, this.linkTail.get(link) ?? 0);
      this.linkTail.set(link, at);
      delayMs = at - this.scheduler.nowMs;
    }
    return delayMs;
  }
}

function pairKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** msgpackr packs into a shared buffer; the bytes in flight must be our own. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return Buffer.from(bytes);
}
