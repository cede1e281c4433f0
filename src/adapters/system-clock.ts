import type { Clock, TimerId } from '../ports/clock.js';

/** The real clock and timers. Timers are unref'd: they never keep a process alive on their own. */
export class SystemClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<TimerId, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  monotonicMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerId {
    const id = this.nextId++;
    const handle = setTimeout(() => {
      this.timers.delete(id);
      callback();
    }, delayMs);
    handle.unref();
    this.timers.set(id, handle);
    return id;
  }

  clearTimer(id: TimerId): void {
    const handle = this.timers.get(id);
    if (handle === undefined) return;
    clearTimeout(handle);
    this.timers.delete(id);
  }

  /** Cancels every pending timer (node shutdown). */
  clearAll(): void {
    for (const handle of this.timers.values()) clearTimeout(handle);
    this.timers.clear();
  }
}
