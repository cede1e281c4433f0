import { assert } from '../core/assert.js';
import type { Clock, TimerId } from '../ports/clock.js';
import type { Trace } from './trace.js';

/**
 * Virtual time. One Scheduler per simulated cluster holds every pending event
 * (timer fires, message deliveries, faults, client steps) in a priority queue
 * ordered by (time, sequence number): events at the same virtual millisecond
 * run in the order they were scheduled, so the order never depends on anything
 * but the seed.
 *
 * The run loop executes one event, then yields one macrotask (setImmediate)
 * so every promise continuation the event started settles before the next
 * event: an event and its microtasks form one atomic step, like one turn of a
 * real node's event loop.
 */

/** Virtual wall clock at time 0 (2023-11-14T22:13:20Z): plausible dates in lastModified. */
export const SIM_EPOCH_MS = 1_700_000_000_000;

export interface SchedulerLimits {
  /** Events a run may execute before it is declared runaway. */
  eventsMax: number;
  /** Virtual time a run may reach. */
  timeMsMax: number;
}

export const SCHEDULER_LIMITS_DEFAULT: SchedulerLimits = { eventsMax: 5_000_000, timeMsMax: 60 * 60 * 1000 };

/** A bound of the simulation itself was exceeded (runaway loop, or a limit set too low). */
export class SimLimitError extends Error {
  override name = 'SimLimitError';
}

/** An event's action threw: a bug in the code under test (or in the simulator). */
export class SimEventError extends Error {
  override name = 'SimEventError';
  constructor(
    readonly label: string,
    readonly timeMs: number,
    override readonly cause: unknown,
  ) {
    super(`event "${label}" at t=${timeMs} threw: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
  }
}

export interface SimEvent {
  readonly timeMs: number;
  readonly seq: number;
  readonly label: string;
  readonly action: () => void;
  cancelled: boolean;
}

export class Scheduler {
  nowMs = 0;
  eventsRun = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];

  constructor(
    readonly trace: Trace,
    readonly limits: SchedulerLimits = SCHEDULER_LIMITS_DEFAULT,
  ) {}

  /** Schedules `action` after `delayMs` of virtual time (clamped at 0). */
  after(delayMs: number, label: string, action: () => void): SimEvent {
    assert(Number.isFinite(delayMs), `scheduler: delay must be finite, got ${delayMs} for ${label}`);
    const event: SimEvent = { timeMs: this.nowMs + Math.max(0, Math.ceil(delayMs)), seq: this.seq++, label, action, cancelled: false };
    this.push(event);
    return event;
  }

  /** Cancelling an event that already ran or was cancelled is a no-op. */
  cancel(event: SimEvent): void {
    event.cancelled = true;
  }

  /** Pending events, cancelled ones included (they are dropped lazily). */
  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs events until `done()` holds or the next event lies beyond
   * `deadlineMs` (then virtual time jumps to the deadline). Returns `done()`.
   */
  async runUntil(done: () => boolean, deadlineMs: number): Promise<boolean> {
    assert(deadlineMs >= this.nowMs, 'scheduler: deadline in the past');
    if (deadlineMs > this.limits.timeMsMax) throw new SimLimitError(`virtual time would pass timeMsMax=${this.limits.timeMsMax}`);
    while (!done()) {
      const next = this.peekLive();
      if (next === undefined || next.timeMs > deadlineMs) {
        this.nowMs = deadlineMs;
        return done();
      }
      this.step();
      await macrotask();
    }
    return true;
  }

  /**
   * Runs the simulation until `promise` settles, within `boundMs` of virtual
   * time (else SimLimitError), and returns its outcome.
   */
  async drive<T>(promise: Promise<T>, boundMs: number): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    if (!(await this.runUntil(() => outcome !== undefined, this.nowMs + boundMs))) {
      throw new SimLimitError(`a promise did not settle within ${boundMs} ms of virtual time`);
    }
    const settled = outcome as { value: T } | { error: unknown };
    if ('error' in settled) throw settled.error;
    return settled.value;
  }

  /** Lets `durationMs` of virtual time pass, running everything due. */
  async runFor(durationMs: number): Promise<void> {
    await this.runUntil(() => false, this.nowMs + durationMs);
  }

  /** Runs the next live event. */
  private step(): void {
    const event = this.pop();
    assert(event !== undefined && !event.cancelled, 'scheduler: step without a live event');
    assert(event.timeMs >= this.nowMs, 'scheduler: time went backwards');
    if (++this.eventsRun > this.limits.eventsMax) throw new SimLimitError(`more than eventsMax=${this.limits.eventsMax} events`);
    this.nowMs = event.timeMs;
    event.cancelled = true;
    this.trace.record(`${event.timeMs} ${event.label}`);
    try {
      event.action();
    } catch (error) {
      throw new SimEventError(event.label, event.timeMs, error);
    }
  }

  private peekLive(): SimEvent | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0];
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      swap(heap, i, parent);
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
      if (least === i) break;
      swap(heap, i, least);
      i = least;
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq);
}

function swap(heap: SimEvent[], i: number, j: number): void {
  const t = heap[i]!;
  heap[i] = heap[j]!;
  heap[j] = t;
}

/** One macrotask boundary: every pending microtask (promise continuation) runs before it resolves. */
export function macrotask(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The Clock port for one node process (one "life": a restart gets a new
 * NodeClock). `now()` is virtual time plus the node's clock skew; skew moves
 * the wall clock only, never timer durations (like an NTP step: timers run on
 * the monotonic clock). Timer callbacks enter the node through `gate`, which
 * holds them while the node is paused and drops them once it is dead.
 */
export class NodeClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<TimerId, SimEvent>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly name: string,
    private readonly skewMs: () => number,
    private readonly gate: (label: string, callback: () => void) => void,
  ) {}

  now(): number {
    return SIM_EPOCH_MS + this.scheduler.nowMs + this.skewMs();
  }

  /**
   * Monotonic milliseconds (virtual time, never skewed): what durations
   * should be measured with. Not in the Clock port yet; ready for it.
   */
  monotonicMs(): number {
    return this.scheduler.nowMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerId {
    const id = this.nextId++;
    const label = `timer ${this.name}#${id}`;
    const event = this.scheduler.after(delayMs, label, () => {
      this.timers.delete(id);
      this.gate(label, callback);
    });
    this.timers.set(id, event);
    return id;
  }

  clearTimer(id: TimerId): void {
    const event = this.timers.get(id);
    if (event === undefined) return;
    this.scheduler.cancel(event);
    this.timers.delete(id);
  }

  /** Cancels every pending timer (the process died). */
  clearAll(): void {
    for (const event of this.timers.values()) this.scheduler.cancel(event);
    this.timers.clear();
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}
