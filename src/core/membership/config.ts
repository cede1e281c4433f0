import { assert } from '../assert.js';

/**
 * Every timing and bound of gossip membership, named (memberlist's `Config`).
 * Defaults follow memberlist's LAN profile (DefaultLANConfig), except
 * push-pull every 15 s instead of 30 s.
 */
export interface MembershipConfig {
  /** One SWIM protocol period: one member is probed per period. */
  probeIntervalMs: number;
  /** Wait this long for a direct ack before asking others to probe (ping-req). */
  probeTimeoutMs: number;
  /** k: members asked to probe indirectly after a missed ack. */
  indirectChecks: number;
  /** Suspicion timeout = mult · max(1, log10 N) · probe interval, at least (Lifeguard's minimum). */
  suspicionMult: number;
  /** Without confirmations the suspicion timeout starts at this multiple of the minimum. */
  suspicionMaxTimeoutMult: number;
  /** Each update is piggybacked on at most mult · ceil(log10(N + 1)) messages. */
  retransmitMult: number;
  /** Full-state sync with one random member, every this long (scaled up beyond pushPullScaleThreshold members). */
  pushPullIntervalMs: number;
  /** Members beyond which the push-pull interval grows with log2 N (memberlist pushPullScaleThreshold). */
  pushPullScaleThreshold: number;
  /** While bootstrapping (no ring, or seeds unanswered), seeds are contacted this often. */
  bootstrapIntervalMs: number;
  /** A push-pull (or ring fetch) waits this long for the answer. */
  pushPullTimeoutMs: number;
  /** Lifeguard local health: probe interval and timeout are scaled by (score + 1), score in 0..awarenessMax-1. */
  awarenessMax: number;
  /** Gossip updates piggybacked on one message, and their estimated bytes (memberlist: one UDP packet). */
  gossipUpdatesPerMessageMax: number;
  gossipBytesPerMessageMax: number;
  /**
   * A timer that fires this much later than asked means this process was
   * stalled (SIGSTOP, GC, an overloaded machine): replies that arrived
   * meanwhile may still be queued, so a timeout seen then is inconclusive.
   */
  stallToleranceMs: number;
  /** Members a node tracks. */
  membersMax: number;
}

export const MEMBERSHIP_DEFAULTS: Readonly<MembershipConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  pushPullIntervalMs: 15_000,
  pushPullScaleThreshold: 32,
  bootstrapIntervalMs: 500,
  pushPullTimeoutMs: 5_000,
  awarenessMax: 8,
  gossipUpdatesPerMessageMax: 32,
  gossipBytesPerMessageMax: 2048,
  stallToleranceMs: 500,
  membersMax: 4096,
});

/** Defaults overridden by `overrides`, checked. */
export function membershipConfig(overrides: Partial<MembershipConfig> = {}): MembershipConfig {
  const config: MembershipConfig = { ...MEMBERSHIP_DEFAULTS, ...overrides };
  for (const [name, value] of Object.entries(config)) {
    assert(Number.isInteger(value) && value >= 1, `membership config: ${name} must be a positive integer, got ${String(value)}`);
  }
  assert(config.probeTimeoutMs < config.probeIntervalMs, 'membership config: the probe timeout must be shorter than the probe interval');
  assert(config.suspicionMaxTimeoutMult >= 1, 'membership config: suspicionMaxTimeoutMult must be ≥ 1');
  return config;
}

/**
 * Push-pull interval for `members` members (memberlist pushPullScale): flat
 * up to the threshold, then one more interval per doubling, so full-state
 * traffic per node stays O(log N) as each sync carries O(N).
 */
export function pushPullIntervalMs(config: MembershipConfig, members: number): number {
  if (members <= config.pushPullScaleThreshold) return config.pushPullIntervalMs;
  const multiplier = Math.ceil(Math.log2(members) - Math.log2(config.pushPullScaleThreshold)) + 1;
  return config.pushPullIntervalMs * multiplier;
}
