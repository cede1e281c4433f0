import type { Clock, TimerId } from '../../ports/clock.js';
import type { Random } from '../../ports/random.js';
import { assert } from '../assert.js';
import type { NodeId } from '../messages.js';

/**
 * SWIM failure detection, one protocol period at a time (memberlist
 * state.go probeNode): ping the target; without an ack within the probe
 * timeout, ask k other members to ping it (ping-req); at the end of the
 * period, no ack from anyone means the target is suspected. The direct ping
 * stays open for the whole period, so a late ack still counts (memberlist's
 * TCP fallback ping plays that role).
 */

export type ProbeOutcome =
  | { kind: 'ack'; indirect: boolean }
  /** No ack. `nacks` of `nacksExpected` relays answered "target silent" (Lifeguard: missing nacks mean *we* are slow). */
  | { kind: 'failed'; nacksExpected: number; nacks: number }
  /** The period ended while this process was stalled: acks may be waiting unread, so no verdict. */
  | { kind: 'inconclusive' };

export type RelayAnswer = 'ack' | 'nack' | 'failed';

export interface ProbeDeps {
  clock: Clock;
  /** Direct ping; true on an ack, false on anything else (error reply, unreachable, timeout). */
  ping(target: NodeId, timeoutMs: number): Promise<boolean>;
  /** Asks `via` to ping `target`: its ack or nack, or 'failed' when `via` itself did not answer. */
  pingReq(via: NodeId, target: NodeId, timeoutMs: number): Promise<RelayAnswer>;
}

export interface ProbeTiming {
  /** Direct-ack wait before going indirect (awareness-scaled). */
  timeoutMs: number;
  /** The whole period (awareness-scaled): the verdict comes at its end. */
  intervalMs: number;
  stallToleranceMs: number;
}

/** One probe of one target; calls `onDone` exactly once, unless cancelled. */
export class Probe {
  private readonly startedMs: number;
  private readonly timers: TimerId[] = [];
  private indirectSent = false;
  private nacks = 0;
  private done = false;

  constructor(
    private readonly deps: ProbeDeps,
    readonly target: NodeId,
    /** Members that may relay a ping-req (alive, neither us nor the target), at most k. */
    private readonly relays: readonly NodeId[],
    private readonly timing: ProbeTiming,
    private readonly onDone: (outcome: ProbeOutcome) => void,
  ) {
    assert(timing.timeoutMs < timing.intervalMs, 'probe: timeout must be shorter than the period');
    assert(!relays.includes(target), 'probe: the target cannot relay its own probe');
    this.startedMs = deps.clock.monotonicMs();
    this.timers.push(deps.clock.setTimer(timing.timeoutMs, () => this.goIndirect()));
    this.timers.push(deps.clock.setTimer(timing.intervalMs, () => this.deadline()));
    deps.ping(target, timing.intervalMs).then(
      (acked) => (acked ? this.finish({ kind: 'ack', indirect: false }) : this.goIndirect()),
      () => this.goIndirect(),
    );
  }

  cancel(): void {
    this.done = true;
    for (const timer of this.timers) this.deps.clock.clearTimer(timer);
  }

  private goIndirect(): void {
    if (this.done || this.indirectSent) return;
    this.indirectSent = true;
    const remainingMs = Math.max(1, this.startedMs + this.timing.intervalMs - this.deps.clock.monotonicMs());
    for (const via of this.relays) {
      this.deps.pingReq(via, this.target, remainingMs).then(
        (answer) => {
          if (answer === 'ack') this.finish({ kind: 'ack', indirect: true });
          else if (answer === 'nack' && !this.done) this.nacks++;
        },
        () => undefined,
      );
    }
  }

  private deadline(): void {
    if (this.done) return;
    const lateMs = this.deps.clock.monotonicMs() - (this.startedMs + this.timing.intervalMs);
    if (lateMs > this.timing.stallToleranceMs) return this.finish({ kind: 'inconclusive' });
    this.finish({ kind: 'failed', nacksExpected: this.indirectSent ? this.relays.length : 0, nacks: this.nacks });
  }

  private finish(outcome: ProbeOutcome): void {
    if (this.done) return;
    this.cancel();
    this.onDone(outcome);
  }
}

/**
 * Shuffled round-robin choice of probe targets (memberlist probeNode's
 * index over a list reshuffled each round): every member is probed once per
 * round, so a failure is detected within one round at worst, not just in
 * expectation as with uniform random choice.
 */
export class ProbeOrder {
  private order: NodeId[] = [];
  private index = 0;

  constructor(private readonly random: Random) {}

  /** The next eligible target; starts a new shuffled round from `candidates()` when this one is used up. */
  next(candidates: () => readonly NodeId[], eligible: (id: NodeId) => boolean): NodeId | undefined {
    for (let round = 0; round < 2; round++) {
      while (this.index < this.order.length) {
        const id = this.order[this.index++]!;
        if (eligible(id)) return id;
      }
      this.order = shuffle([...candidates()], this.random);
      this.index = 0;
      if (this.order.length === 0) return undefined;
    }
    return undefined;
  }
}

/** Fisher–Yates, in place, with the injected randomness. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/** Up to `k` distinct items chosen at random (a partial shuffle). */
export function pickRandom<T>(items: readonly T[], k: number, random: Random): T[] {
  const pool = [...items];
  const count = Math.min(k, pool.length);
  for (let i = 0; i < count; i++) {
    const j = i + random.int(pool.length - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, count);
}
