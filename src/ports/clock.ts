/** Opaque handle of a scheduled callback. */
export type TimerId = number;

/**
 * Time as the core sees it. Production wires the system clock and real timers;
 * the simulator wires virtual time, so a seed replays the same schedule.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (used for lastModified and expiry). */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never steps backwards or jumps
   * with wall-clock changes: measure every duration with this, never with now().
   */
  monotonicMs(): number;
  /** Runs `callback` once after `delayMs` (virtual or real). */
  setTimer(delayMs: number, callback: () => void): TimerId;
  /** Cancels a timer; cancelling a fired or unknown timer is a no-op. */
  clearTimer(id: TimerId): void;
}
