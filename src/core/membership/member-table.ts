import type { Clock, TimerId } from '../../ports/clock.js';
import type { Random } from '../../ports/random.js';
import type { Transport } from '../../ports/transport.js';
import type { MemberInfo, NodeId } from '../messages.js';
import { parseMembers } from '../peer-protocol.js';

/** How often a node pushes its view to a peer and pulls the peer's. */
export const MEMBER_SYNC_INTERVAL_MS = 1000;
/** After this long a node serves even if some seed never answered. */
export const BOOTSTRAP_WAIT_MS_MAX = 5000;
/** Members a node tracks. */
export const MEMBERS_MAX = 4096;

/** Target name that addresses a seed by its peer address before its id is known. */
export function seedTarget(peerAddress: string): NodeId {
  return `@${peerAddress}`;
}

export interface MemberTableDeps {
  readonly self: MemberInfo;
  readonly seeds: readonly string[];
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  /** Called after the member set changed (persist it, recompute the ring). */
  onChange(members: MemberInfo[]): void;
}

/**
 * The membership view: who is in the cluster and where. Bootstrap contacts
 * every seed; after that a periodic push-pull with one random member spreads
 * joins. Higher incarnations win, so a restarted node's new addresses spread.
 * (Failure detection and states beyond `alive` come with SWIM gossip.)
 */
export class MemberTable {
  private readonly table = new Map<NodeId, MemberInfo>();
  private readonly seedsPending: Set<string>;
  private readonly startedAt: number;
  private timer: TimerId | undefined;
  private stopped = false;

  constructor(
    private readonly deps: MemberTableDeps,
    known: readonly MemberInfo[] = [],
  ) {
    for (const m of known) if (m.id !== deps.self.id) this.table.set(m.id, m);
    this.table.set(deps.self.id, deps.self);
    this.seedsPending = new Set(deps.seeds.filter((s) => s !== deps.self.peer));
    this.startedAt = deps.clock.now();
  }

  start(): void {
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
  }

  /** The addresses this node announces (known only once its listeners are bound). */
  updateSelf(api: string, peer: string): void {
    const self = this.self();
    this.table.set(self.id, { ...self, api, peer });
  }

  self(): MemberInfo {
    return this.table.get(this.deps.self.id)!;
  }

  members(): MemberInfo[] {
    return [...this.table.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: NodeId): MemberInfo | undefined {
    return this.table.get(id);
  }

  ready(): boolean {
    return this.seedsPending.size === 0 || this.deps.clock.now() - this.startedAt >= BOOTSTRAP_WAIT_MS_MAX;
  }

  /** A peer's push: merge it, answer with our view (the pull). */
  receive(from: MemberInfo, members: readonly MemberInfo[]): MemberInfo[] {
    this.merge([from, ...members]);
    return this.members();
  }

  merge(incoming: readonly MemberInfo[]): void {
    let changed = false;
    for (const m of incoming) {
      if (m.id === this.deps.self.id) continue;
      const known = this.table.get(m.id);
      if (known !== undefined && known.incarnation >= m.incarnation) continue;
      if (known === undefined && this.table.size >= MEMBERS_MAX) continue;
      this.table.set(m.id, m);
      changed = true;
    }
    if (changed) this.deps.onChange(this.members());
  }

  private tick(): void {
    if (this.stopped) return;
    for (const seed of this.seedsPending) this.exchange(seedTarget(seed), seed);
    const others = [...this.table.keys()].filter((id) => id !== this.deps.self.id);
    if (others.length > 0) this.exchange(others[this.deps.random.int(others.length)]!, undefined);
    this.timer = this.deps.clock.setTimer(MEMBER_SYNC_INTERVAL_MS, () => this.tick());
  }

  private exchange(target: NodeId, seed: string | undefined): void {
    const message = { type: 'members' as const, from: this.self(), members: this.members() };
    this.deps.transport.request(target, message, MEMBER_SYNC_INTERVAL_MS).then(
      (reply) => {
        if (reply.type !== 'members') return;
        let members: MemberInfo[];
        try {
          members = parseMembers(reply.members);
        } catch {
          return;
        }
        if (seed !== undefined) this.seedsPending.delete(seed);
        this.merge(members);
      },
      () => undefined,
    );
  }
}
