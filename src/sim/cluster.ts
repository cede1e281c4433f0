import { MemoryStore } from '../adapters/memory-store.js';
import { peerPackr } from '../adapters/msgpack.js';
import { createHasher } from '../adapters/xxhash.js';
import { assert } from '../core/assert.js';
import { MemoryHintLog } from '../core/handoff/memory-hint-log.js';
import { KvNode } from '../core/kv-node.js';
import { LIMITS } from '../core/limits.js';
import type { MemberInfo, NodeId } from '../core/messages.js';
import { parseMembers } from '../core/peer-protocol.js';
import type { Hasher } from '../ports/hasher.js';
import type { Random } from '../ports/random.js';
import type { Store } from '../ports/store.js';
import type { PeerHandler } from '../ports/transport.js';
import { HELD_CALLS_MAX, SimNetwork, type Endpoint } from './network.js';
import type { Prng } from './prng.js';
import { NodeClock, type Scheduler } from './virtual-clock.js';
import { bumpIncarnation, loadActor, loadMembers, loadRing, saveIncarnation, saveMembers, saveRing, type OnPersistError } from '../node/identity.js';

/**
 * A simulated cluster: S KvNodes, each on a MemoryStore and a MemoryHintLog
 * (its "disk") that outlive its process, with virtual clocks, seeded randomness and the virtual network.
 *
 * Process faults, as `dynakv cluster` does them to real processes:
 *  - kill: the KvNode is dropped mid-flight (no stop(), like SIGKILL); its
 *    timers die with it, requests it was handling get a reset, and the store
 *    keeps what it holds (MemoryStore holds a put once it resolved: a kill
 *    loses nothing acknowledged).
 *  - restart: a new KvNode on the same store; actor epoch and incarnation
 *    come from the store's meta records exactly as src/node/node.ts does it.
 *  - pause/resume: SIGSTOP/SIGCONT. Nothing enters a paused node (timers,
 *    requests, replies, client calls wait in its gate) and on resume they run
 *    in arrival order.
 *  - wipe: kill, store.wipe() and hint log wiped, restart: a fresh actor
 *    epoch, an empty store, no hints.
 *
 * Ring changes, as `dynakv cluster add` / `dynakv cluster leave` do them:
 *  - add: a new host (a new machine, empty disk) whose node starts with the
 *    peers of the current members as its seeds, and joins through them.
 *  - leave: the node's leave() (POST /v1/admin/leave); when it reports it has
 *    left (onLeft), the host stops it (as node.ts closes the process) and it
 *    is no longer a member. A left host is never started again.
 */

export interface ClusterConfig {
  nodes: number;
  replicas: number;
  partitions: number;
  siblingsMax: number;
}

export type HostState = 'up' | 'down' | 'paused';

/** Client → node latency of the public API (loopback-ish). */
const CLIENT_HOP_MS = 1;

export class ClientRefusedError extends Error {
  override name = 'ClientRefusedError';
}
export class ClientTimeoutError extends Error {
  override name = 'ClientTimeoutError';
}
export class ClientResetError extends Error {
  override name = 'ClientResetError';
}

/** One simulated machine: its disk (store) survives its processes (lives). */
export class SimHost implements Endpoint {
  state: HostState = 'down';
  /** A new life is being set up (reading its meta records). */
  booting = false;
  life = 0;
  skewMs = 0;
  kv: KvNode | undefined;
  clock: NodeClock | undefined;
  /** Calls that arrived while paused, in arrival order. */
  private held: Array<{ life: number; label: string; callback: () => void }> = [];
  /** Called once when the current life ends (clients waiting on it get a reset). */
  private readonly onDeath = new Set<() => void>();
  /** Hints this node holds as a fallback: on its "disk", like the store. */
  readonly hintLog = new MemoryHintLog();
  /** The operator asked this node to leave (`dynakv cluster leave`); it stays asked until it has left. */
  leaveRequested = false;
  /** The node reported it has left and was stopped: no longer a member, never started again. */
  left = false;

  constructor(
    readonly id: NodeId,
    readonly peer: string,
    readonly api: string,
    readonly store: MemoryStore,
    /** This node's own random stream (actor epochs, gossip targets). */
    readonly random: Prng,
    private readonly scheduler: Scheduler,
    /** The --seeds of its process, fixed when the host was made (like the CLI's saved command line). */
    readonly seeds: readonly string[],
  ) {}

  enter(life: number, label: string, callback: () => void): void {
    if (life !== this.life || this.state === 'down') {
      this.scheduler.trace.record(`${this.scheduler.nowMs} dead ${this.id} ${label}`);
      return;
    }
    if (this.state === 'paused') {
      assert(this.held.length < HELD_CALLS_MAX, `${this.id}: more than ${HELD_CALLS_MAX} calls held while paused`);
      this.held.push({ life, label, callback });
      return;
    }
    callback();
  }

  handler(): PeerHandler | undefined {
    const kv = this.kv;
    return kv === undefined || this.state === 'down' ? undefined : (message) => kv.handlePeer(message);
  }

  whenDead(callback: () => void): () => void {
    this.onDeath.add(callback);
    return () => this.onDeath.delete(callback);
  }

  /** Ends the current life: returns the calls that were waiting for it. */
  die(): Array<() => void> {
    const waiting = [...this.onDeath];
    this.onDeath.clear();
    this.held = [];
    return waiting;
  }

  takeHeld(): Array<{ life: number; label: string; callback: () => void }> {
    const held = this.held;
    this.held = [];
    return held;
  }
}

export class SimCluster {
  /** Every host ever made, left ones included. */
  readonly hosts = new Map<NodeId, SimHost>();
  /** The members: hosts made and not left, in the order they were made. Replaced (never mutated) on a change. */
  private memberIds: readonly NodeId[];
  readonly network: SimNetwork;
  /** Fault counters, for the summary line. */
  readonly counts = { kills: 0, restarts: 0, pauses: 0, wipes: 0, joins: 0, leaves: 0, left: 0, removed: 0 };
  /** Nodes that stopped as `left` while holding hints ("n4: 2"): those writes left with them. */
  readonly leftWithHints: string[] = [];
  /** Virtual times of every wipe, for the set checker's durability rule. */
  readonly wipeTimesMs: number[] = [];
  private readonly bugs: string[] = [];

  private constructor(
    readonly config: ClusterConfig,
    readonly scheduler: Scheduler,
    private readonly random: Prng,
    private readonly hasher: Hasher,
  ) {
    assert(config.nodes >= 1 && config.nodes <= 64, 'cluster: 1..64 nodes');
    assert(config.replicas >= 1 && config.replicas <= LIMITS.replicasMax, 'cluster: bad replication factor');
    this.network = new SimNetwork(scheduler, random.fork('network'), (bug) => this.reportBug(bug));
    this.memberIds = Array.from({ length: config.nodes }, (_, i) => `n${i + 1}`);
    const seeds = this.memberIds.map((_, i) => peerAddress(i + 1));
    this.memberIds.forEach((id, i) => this.makeHost(id, i + 1, seeds));
  }

  /** The members (hosts made and not left), in the order they were made. */
  get ids(): readonly NodeId[] {
    return this.memberIds;
  }

  static async create(config: ClusterConfig, scheduler: Scheduler, random: Prng): Promise<SimCluster> {
    return new SimCluster(config, scheduler, random, await createHasher());
  }

  /** Bugs noticed outside any checker (a peer handler that threw, …). */
  get bugReports(): readonly string[] {
    return this.bugs;
  }

  reportBug(message: string): void {
    this.bugs.push(message);
    this.scheduler.trace.record(`${this.scheduler.nowMs} BUG ${message}`);
  }

  host(id: NodeId): SimHost {
    const host = this.hosts.get(id);
    assert(host !== undefined, `cluster: no node ${id}`);
    return host;
  }

  /** The running KvNode of `id`, if its process is up (or paused). */
  node(id: NodeId): KvNode | undefined {
    const host = this.host(id);
    return host.state === 'down' ? undefined : host.kv;
  }

  upIds(): NodeId[] {
    return this.ids.filter((id) => this.host(id).state === 'up');
  }

  /** Members asked to leave that have not left yet. */
  leavingIds(): NodeId[] {
    return this.ids.filter((id) => this.host(id).leaveRequested);
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.start(id);
  }

  // ---- process faults ------------------------------------------------------

  /** SIGKILL: no cleanup runs in the node; the store keeps what it holds. */
  kill(id: NodeId): void {
    const host = this.host(id);
    if (host.state === 'down') return;
    this.counts.kills++;
    this.scheduler.trace.record(`${this.scheduler.nowMs} fault kill ${id} life=${host.life}`);
    this.end(host);
  }

  async restart(id: NodeId): Promise<void> {
    const host = this.host(id);
    if (host.state !== 'down' || host.booting || host.left) return;
    this.counts.restarts++;
    await this.start(id);
  }

  pause(id: NodeId): void {
    const host = this.host(id);
    if (host.state !== 'up') return;
    this.counts.pauses++;
    host.state = 'paused';
    this.scheduler.trace.record(`${this.scheduler.nowMs} fault pause ${id}`);
  }

  /** SIGCONT: what waited runs now, in arrival order, each as its own event. */
  resume(id: NodeId): void {
    const host = this.host(id);
    if (host.state !== 'paused') return;
    host.state = 'up';
    this.scheduler.trace.record(`${this.scheduler.nowMs} fault resume ${id}`);
    for (const call of host.takeHeld()) {
      this.scheduler.after(0, `resumed ${id} ${call.label}`, () => host.enter(call.life, call.label, call.callback));
    }
  }

  /** Stop (as kill), delete the data, start empty: a fresh actor epoch and incarnation. */
  async wipe(id: NodeId): Promise<void> {
    const host = this.host(id);
    if (host.booting || host.left) return;
    this.counts.wipes++;
    this.wipeTimesMs.push(this.scheduler.nowMs);
    this.scheduler.trace.record(`${this.scheduler.nowMs} fault wipe ${id}`);
    if (host.state !== 'down') this.end(host);
    await host.store.wipe();
    host.hintLog.wipe();
    await this.start(id);
  }

  // ---- ring changes ------------------------------------------------------------

  /**
   * `dynakv cluster add`: a new machine with an empty disk; its node's seeds
   * are the peers of the current members, and it joins through them.
   * Returns the new node's id.
   */
  async add(): Promise<NodeId> {
    const index = this.hosts.size + 1;
    const id = `n${index}`;
    assert(!this.hosts.has(id), `cluster: ${id} exists already`);
    assert(this.hosts.size < HOSTS_MAX, `cluster: at most ${HOSTS_MAX} hosts`);
    const seeds = this.ids.map((member) => this.host(member).peer);
    this.makeHost(id, index, seeds);
    this.memberIds = [...this.memberIds, id];
    this.counts.joins++;
    this.scheduler.trace.record(`${this.scheduler.nowMs} change add ${id} seeds=${seeds.length}`);
    await this.start(id);
    return id;
  }

  /**
   * `dynakv cluster leave`: POST /v1/admin/leave on a running node. Asked
   * once: if the node is killed and restarted before it has left, it must go
   * on leaving by itself (the simulation waits for it to leave).
   */
  leave(id: NodeId): void {
    const host = this.host(id);
    assert(host.state === 'up' && !host.left, `cluster: leave of ${id}, which is not running`);
    if (host.leaveRequested) return;
    host.leaveRequested = true;
    this.counts.leaves++;
    this.scheduler.trace.record(`${this.scheduler.nowMs} change leave ${id}`);
    this.requestLeave(host);
  }

  /**
   * A machine lost for good (its disk with it): killed, never started again,
   * no longer a member here. Its copies are gone, as a wipe's are (the set
   * checker's durability rule counts it as one); `dynakv cluster remove`
   * is then asked of a running member (`removeLost`).
   */
  lose(id: NodeId): void {
    const host = this.host(id);
    assert(host.state === 'up' && !host.left && !host.leaveRequested, `cluster: lose of ${id}, which is not a running member`);
    this.scheduler.trace.record(`${this.scheduler.nowMs} change lose ${id}`);
    this.end(host);
    host.left = true;
    this.wipeTimesMs.push(this.scheduler.nowMs);
    this.memberIds = this.memberIds.filter((member) => member !== id);
  }

  /** `dynakv cluster remove`, asked of every running member (each refuses while it does not see `id` as dead). */
  removeLost(id: NodeId): void {
    for (const member of this.upIds()) {
      const kv = this.host(member).kv;
      if (kv === undefined || !kv.ready() || kv.membership.get(id)?.status === 'left') continue;
      try {
        kv.remove(id);
      } catch {
        continue;
      }
      this.counts.removed++;
      this.scheduler.trace.record(`${this.scheduler.nowMs} change removed ${id} at ${member}`);
    }
  }

  setSkew(id: NodeId, skewMs: number): void {
    this.host(id).skewMs = skewMs;
    this.scheduler.trace.record(`${this.scheduler.nowMs} fault skew ${id} ${skewMs}`);
  }

  // ---- clients -------------------------------------------------------------

  /**
   * A client request to node `id`'s public API, as the HTTP layer would run
   * it. Rejects with ClientRefusedError when the node is down (definitely not
   * applied), ClientResetError when it dies while handling the call and
   * ClientTimeoutError after `timeoutMs` (both: outcome unknown).
   */
  call<T>(id: NodeId, label: string, timeoutMs: number, operation: (node: KvNode) => Promise<T>): Promise<T> {
    const host = this.host(id);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let forget: (() => void) | undefined;
      const finish = (error: Error | undefined, value?: T): void => {
        if (done) return;
        done = true;
        this.scheduler.cancel(timer);
        forget?.();
        if (error !== undefined) reject(error);
        else resolve(value as T);
      };
      const timer = this.scheduler.after(timeoutMs, `client-timeout ${label}`, () => finish(new ClientTimeoutError(`${label}: no answer from ${id} in ${timeoutMs} ms`)));
      this.scheduler.after(CLIENT_HOP_MS, `client ${label} > ${id}`, () => {
        if (host.state === 'down') return finish(new ClientRefusedError(`${label}: connection refused by ${id}`));
        forget = host.whenDead(() => finish(new ClientResetError(`${label}: connection reset by ${id}`)));
        host.enter(host.life, `client ${label}`, () => {
          const node = host.kv;
          assert(node !== undefined, `cluster: ${id} is up without a node`);
          operation(node).then(
            (value) => finish(undefined, value),
            (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
          );
        });
      });
    });
  }

  // ---- internals -----------------------------------------------------------

  private makeHost(id: NodeId, index: number, seeds: readonly string[]): SimHost {
    const host = new SimHost(id, peerAddress(index), `10.0.0.${index}:7001`, new MemoryStore(), this.random.fork(`node-${id}`), this.scheduler, seeds);
    this.hosts.set(id, host);
    this.network.register(host);
    return host;
  }

  private requestLeave(host: SimHost): void {
    host.enter(host.life, `admin leave ${host.id}`, () => {
      const status = host.kv?.leave().status;
      this.scheduler.trace.record(`${this.scheduler.nowMs} ${host.id} leave: ${status ?? 'no node'}`);
    });
  }

  /** onLeft of one life: the process closes itself (node.ts close()), one event later, outside the node's own callback. */
  private leftCallback(host: SimHost, life: number): () => void {
    return () => {
      this.scheduler.after(0, `closed ${host.id} (left)`, () => {
        if (host.life !== life || host.state === 'down') return;
        assert(host.leaveRequested, `cluster: ${host.id} left without being asked to`);
        const held = host.kv?.status().hints.pending ?? 0;
        if (held > 0) this.leftWithHints.push(`${host.id}: ${held}`);
        host.kv?.stop();
        this.end(host);
        host.left = true;
        host.leaveRequested = false;
        this.counts.left++;
        this.memberIds = this.memberIds.filter((id) => id !== host.id);
        this.scheduler.trace.record(`${this.scheduler.nowMs} change left ${host.id}`);
      });
    };
  }

  private end(host: SimHost): void {
    host.clock?.clearAll();
    host.kv = undefined;
    host.clock = undefined;
    host.state = 'down';
    host.life++;
    this.network.nodeDied(host.id);
    for (const callback of host.die()) callback();
  }

  /** Boots a new life on the host's store, mirroring startNode in src/node/node.ts. */
  private async start(id: NodeId): Promise<void> {
    const host = this.host(id);
    assert(host.state === 'down' && !host.booting, `cluster: ${id} is already running`);
    assert(!host.left, `cluster: ${id} has left; a left node is never started again`);
    const life = host.life;
    const store = host.store;
    host.booting = true;
    let actor: string;
    let incarnation: number;
    try {
      actor = await loadActor(store, id, host.random);
      incarnation = await bumpIncarnation(store);
    } finally {
      host.booting = false;
    }
    assert(host.life === life && host.state === 'down', `cluster: ${id} changed state while booting`);
    const persistError: OnPersistError = (what, error) => this.reportBug(`${id}: persisting ${what} failed: ${String(error)}`);
    const clock = new NodeClock(this.scheduler, `${id}.${life}`, () => host.skewMs, (label, callback) => host.enter(life, label, callback));
    const kv = new KvNode(
      {
        id,
        actor,
        api: host.api,
        peer: host.peer,
        zone: undefined,
        seeds: host.seeds,
        replicas: this.config.replicas,
        partitions: this.config.partitions,
        siblingsMax: this.config.siblingsMax,
        valueBytesMax: LIMITS.valueBytesMaxDefault,
        incarnation,
        knownMembers: loadMembers(store),
        knownRing: loadRing(store, persistError),
      },
      {
        store,
        transport: this.network.transportFor(id, life),
        clock,
        random: host.random,
        hasher: this.hasher,
        hintLog: host.hintLog,
        persistMembers: (members) => saveMembers(store, members, persistError),
        persistRing: (ring) => saveRing(store, ring, persistError),
        persistIncarnation: (n) => saveIncarnation(store, n, persistError),
        onLeft: this.leftCallback(host, life),
      },
    );
    host.kv = kv;
    host.clock = clock;
    host.state = 'up';
    this.scheduler.trace.record(`${this.scheduler.nowMs} start ${id} life=${life} actor=${actor} incarnation=${incarnation}`);
    kv.setAddresses(host.api, host.peer);
    kv.start();
    // A node restarted in the middle of its leave is not asked again: the leave
    // must survive the restart by itself (KvNode reads it back from its member record).
  }
}

/** Hosts one simulated cluster may make over a run (initial nodes and additions). */
const HOSTS_MAX = 64;

function peerAddress(index: number): string {
  return `10.0.0.${index}:7101`;
}
