import { peerPackr } from '../../../src/adapters/msgpack.js';
import { membershipConfig, type MembershipConfig } from '../../../src/core/membership/config.js';
import { Membership, type MembershipEvent, type RingGossip } from '../../../src/core/membership/membership.js';
import type { MemberInfo, NodeId, PeerReply, PeerRequest } from '../../../src/core/messages.js';
import { parsePeerRequest } from '../../../src/core/peer-protocol.js';
import type { PeerHandler, Transport } from '../../../src/ports/transport.js';
import { Prng } from '../../../src/sim/prng.js';
import { Trace } from '../../../src/sim/trace.js';
import { NodeClock, Scheduler } from '../../../src/sim/virtual-clock.js';

/**
 * A tiny virtual network for gossip tests, on the simulator's scheduler
 * (virtual time, seeded randomness): every request and reply is one hop of
 * `latencyMs`, links can be lossy or cut, nodes can be killed (requests
 * refused, timers gone) or paused (SIGSTOP: timers and deliveries wait and
 * run on resume, late, as in a real process). Messages are msgpack round-
 * tripped, so nothing is shared by reference.
 */

type State = 'up' | 'paused' | 'down';

interface Host {
  id: NodeId;
  peer: string;
  state: State;
  life: number;
  clock: NodeClock;
  handler: PeerHandler | undefined;
  held: Array<() => void>;
}

export interface NetOptions {
  latencyMs?: number;
  /** Round-trip every message through msgpack (default true). */
  encode?: boolean;
}

export class GossipNet {
  readonly scheduler = new Scheduler(new Trace(), { eventsMax: 50_000_000, timeMsMax: 24 * 3600 * 1000 });
  readonly random: Prng;
  private readonly hosts = new Map<NodeId, Host>();
  private readonly byPeer = new Map<string, NodeId>();
  /** Loss probability per directed link "a>b" (1 = cut). */
  private readonly loss = new Map<string, number>();
  /** Requests sent, per message type, and in total per sender. */
  readonly sent = new Map<string, number>();
  readonly sentBy = new Map<NodeId, number>();
  private readonly latencyMs: number;
  private readonly encode: boolean;

  constructor(seed: number, options: NetOptions = {}) {
    this.random = Prng.root(seed);
    this.latencyMs = options.latencyMs ?? 1;
    this.encode = options.encode ?? true;
  }

  get nowMs(): number {
    return this.scheduler.nowMs;
  }

  /** A host for `id` (peer address `id:peer`), down until `attach`. */
  host(id: NodeId): { clock: NodeClock; transport: Transport; peer: string } {
    let host = this.hosts.get(id);
    if (host === undefined) {
      host = { id, peer: `${id}:peer`, state: 'down', life: 0, clock: undefined as never, handler: undefined, held: [] };
      this.hosts.set(id, host);
      this.byPeer.set(host.peer, id);
    }
    const h = host;
    const life = h.life;
    h.clock = new NodeClock(this.scheduler, `${id}.${life}`, () => 0, (_label, callback) => this.enter(h, life, callback));
    return { clock: h.clock, transport: this.transportFor(id), peer: h.peer };
  }

  attach(id: NodeId, handler: PeerHandler): void {
    const host = this.hosts.get(id)!;
    host.handler = handler;
    host.state = 'up';
  }

  kill(id: NodeId): void {
    const host = this.hosts.get(id)!;
    host.clock.clearAll();
    host.state = 'down';
    host.handler = undefined;
    host.held = [];
    host.life++;
  }

  pause(id: NodeId): void {
    const host = this.hosts.get(id)!;
    if (host.state === 'up') host.state = 'paused';
  }

  resume(id: NodeId): void {
    const host = this.hosts.get(id)!;
    if (host.state !== 'paused') return;
    host.state = 'up';
    const held = host.held;
    host.held = [];
    for (const callback of held) this.scheduler.after(0, `resume ${id}`, callback);
  }

  setLoss(from: NodeId, to: NodeId, rate: number): void {
    this.loss.set(`${from}>${to}`, rate);
  }

  /** Cuts every link between the two groups, both ways (rate 1), or restores them (rate 0). */
  partition(a: readonly NodeId[], b: readonly NodeId[], rate = 1): void {
    for (const x of a) for (const y of b) {
      this.setLoss(x, y, rate);
      this.setLoss(y, x, rate);
    }
  }

  runFor(ms: number): Promise<void> {
    return this.scheduler.runFor(ms);
  }

  /** Runs until `done()` or `boundMs` of virtual time passed; returns done(). */
  runUntil(done: () => boolean, boundMs: number): Promise<boolean> {
    return this.scheduler.runUntil(done, this.scheduler.nowMs + boundMs);
  }

  private enter(host: Host, life: number, callback: () => void): void {
    if (host.life !== life || host.state === 'down') return;
    if (host.state === 'paused') host.held.push(callback);
    else callback();
  }

  private lost(from: NodeId, to: NodeId): boolean {
    const rate = this.loss.get(`${from}>${to}`) ?? 0;
    return rate > 0 && this.random.next() < rate;
  }

  private copy<T>(value: T): T {
    return this.encode ? (peerPackr.unpack(peerPackr.pack(value)) as T) : value;
  }

  private transportFor(from: NodeId): Transport {
    return {
      request: (target: NodeId, message: PeerRequest, timeoutMs: number): Promise<PeerReply> => {
        this.sent.set(message.type, (this.sent.get(message.type) ?? 0) + 1);
        this.sentBy.set(from, (this.sentBy.get(from) ?? 0) + 1);
        const to = target.startsWith('@') ? this.byPeer.get(target.slice(1)) : target;
        const sender = this.hosts.get(from)!;
        const senderLife = sender.life;
        return new Promise<PeerReply>((resolve, reject) => {
          let settled = false;
          const settle = (reply: PeerReply | undefined, error?: Error): void => {
            if (settled) return;
            settled = true;
            this.scheduler.cancel(timer);
            // The answer reaches the sender's process like a timer: held while it is paused, dropped if it died.
            this.enter(sender, senderLife, () => (error !== undefined ? reject(error) : resolve(reply!)));
          };
          const timer = this.scheduler.after(timeoutMs, `timeout ${from}>${target}`, () => settle(undefined, new Error(`timeout ${from}>${target}`)));
          const host = to === undefined ? undefined : this.hosts.get(to);
          if (host === undefined || to === undefined) return settle(undefined, new Error(`no route to ${target}`));
          if (this.lost(from, to)) return;
          const payload = this.copy(message);
          this.scheduler.after(this.latencyMs, `deliver ${from}>${to} ${message.type}`, () => {
            if (host.state === 'down' || host.handler === undefined) return settle(undefined, new Error(`refused by ${to}`));
            const life = host.life;
            this.enter(host, life, () => {
              void host.handler!(payload).then((reply) => {
                if (host.life !== life || this.lost(to, from)) return;
                const copied = this.copy(reply);
                this.scheduler.after(this.latencyMs, `reply ${to}>${from}`, () => settle(copied));
              });
            });
          });
        });
      },
    };
  }
}

/** KvNode.handlePeer's gossip part, for a bare Membership: validate, then dispatch. */
export function gossipHandler(membership: Membership, ring?: { handleGet(): PeerReply }): PeerHandler {
  return async (input: unknown): Promise<PeerReply> => {
    try {
      const message = parsePeerRequest(input);
      switch (message.type) {
        case 'ping':
          return membership.handlePing(message);
        case 'ping-req':
          return await membership.handlePingReq(message);
        case 'push-pull':
          return membership.handlePushPull(message);
        case 'ring-get':
          if (ring !== undefined) return ring.handleGet();
          break;
        default:
          break;
      }
      return { type: 'error', code: 'invalid_message', message: `not a gossip message: ${message.type}` };
    } catch (error) {
      return { type: 'error', code: 'invalid_message', message: error instanceof Error ? error.message : String(error) };
    }
  };
}

export interface GossipNodeOptions {
  seeds?: string[];
  known?: MemberInfo[];
  incarnation?: number;
  config?: Partial<MembershipConfig>;
  ring?: RingGossip;
  onEvent?(event: MembershipEvent): void;
  onIncarnation?(incarnation: number): void;
}

/** Starts a bare Membership for `id` on the net. */
export function startGossipNode(net: GossipNet, id: NodeId, options: GossipNodeOptions = {}): Membership {
  const { clock, transport, peer } = net.host(id);
  const self: MemberInfo = { id, api: `${id}:api`, peer, status: 'alive', incarnation: options.incarnation ?? 1, zone: undefined };
  const membership = new Membership(
    {
      self,
      seeds: options.seeds ?? [],
      transport,
      clock,
      random: net.random.fork(`node-${id}-${net.nowMs}`),
      config: membershipConfig(options.config),
      ...(options.ring === undefined ? {} : { ring: options.ring }),
      onChange: () => undefined,
      ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
      ...(options.onIncarnation === undefined ? {} : { onIncarnation: options.onIncarnation }),
    },
    options.known ?? [],
  );
  net.attach(id, gossipHandler(membership));
  membership.start();
  return membership;
}

/** Records of every member, all alive at incarnation 1 (a cluster that already knows itself). */
export function aliveMembers(ids: readonly NodeId[]): MemberInfo[] {
  return ids.map((id) => ({ id, api: `${id}:api`, peer: `${id}:peer`, status: 'alive', incarnation: 1, zone: undefined }));
}
