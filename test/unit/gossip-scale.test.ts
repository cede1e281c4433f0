import { describe, expect, it } from 'vitest';
import type { Membership } from '../../src/core/membership/membership.js';
import type { NodeId } from '../../src/core/messages.js';
import { aliveMembers, GossipNet, startGossipNode } from './support/gossip-net.js';

/**
 * Gossip at scale, in one process on virtual time: N members that know each
 * other, one is killed, and we measure how the verdict spreads. Printed, not
 * asserted beyond generous sanity bounds (DESIGN §10: no timing assertions).
 *
 * SWIM's claims: dissemination in O(log N) protocol periods (the goal here:
 * full convergence within 3·log2 N periods of the first verdict), at a
 * constant number of messages per member per period, whatever N.
 */

const PROBE_INTERVAL_MS = 1000;
const WARMUP_MS = 10_000;
const WINDOW_MS = 20_000;

interface ScaleResult {
  n: number;
  messagesPerMemberPerPeriod: number;
  /** The same while the death is detected and spread (probes of the victim fail and go indirect). */
  convergingMessagesPerMemberPerPeriod: number;
  gossipUpdatesPerMessage: number;
  detectionMs: number;
  suspectSpreadPeriods: number;
  deadSpreadPeriods: number;
  killToAllDeadPeriods: number;
  goalPeriods: number;
}

async function run(n: number, seed: number): Promise<ScaleResult> {
  const net = new GossipNet(seed, { encode: n <= 200 });
  const ids = Array.from({ length: n }, (_, i) => `m${String(i).padStart(4, '0')}`);
  const known = aliveMembers(ids);
  const victim = ids[Math.floor(n / 2)]!;
  const firstSuspect = new Map<NodeId, number>();
  const dead = new Map<NodeId, number>();
  const nodes = new Map<NodeId, Membership>();
  for (const id of ids) {
    nodes.set(
      id,
      startGossipNode(net, id, {
        known,
        onEvent: (e) => {
          if (e.id !== victim) return;
          if (e.kind === 'suspect' && !firstSuspect.has(id)) firstSuspect.set(id, net.nowMs);
          if (e.kind === 'dead' && !dead.has(id)) dead.set(id, net.nowMs);
        },
      }),
    );
  }
  await net.runFor(WARMUP_MS);
  // Steady-state cost: every request sent (ping, ping-req, push-pull) in a window, per member per period.
  const sentBefore = [...net.sent.values()].reduce((a, b) => a + b, 0);
  await net.runFor(WINDOW_MS);
  const sent = [...net.sent.values()].reduce((a, b) => a + b, 0) - sentBefore;
  const periods = WINDOW_MS / PROBE_INTERVAL_MS;
  // Each request has a reply: count both as messages.
  const messagesPerMemberPerPeriod = (2 * sent) / n / periods;

  const killedAt = net.nowMs;
  const sentAtKill = [...net.sent.values()].reduce((a, b) => a + b, 0);
  const gossipAtKill = [...nodes.values()].reduce((a, m) => a + m.counters.gossipSent, 0);
  net.kill(victim);
  nodes.get(victim)!.stop();
  const others = ids.filter((id) => id !== victim);
  const converged = await net.runUntil(() => dead.size >= others.length, 600_000);
  expect(converged, `only ${dead.size} of ${others.length} learned of the death`).toBe(true);
  const convergingSent = [...net.sent.values()].reduce((a, b) => a + b, 0) - sentAtKill;
  const convergingGossip = [...nodes.values()].reduce((a, m) => a + m.counters.gossipSent, 0) - gossipAtKill;
  const convergingPeriods = (net.nowMs - killedAt) / PROBE_INTERVAL_MS;
  const suspectTimes = [...firstSuspect.values()];
  const deadTimes = [...dead.values()];
  const firstSuspectAt = Math.min(...suspectTimes);
  const firstDeadAt = Math.min(...deadTimes);
  const allDeadAt = Math.max(...deadTimes);
  // Everyone heard of the suspicion (or the death) by:
  const heardAt = others.map((id) => Math.min(firstSuspect.get(id) ?? Infinity, dead.get(id) ?? Infinity));
  return {
    n,
    messagesPerMemberPerPeriod,
    convergingMessagesPerMemberPerPeriod: (2 * convergingSent) / n / convergingPeriods,
    gossipUpdatesPerMessage: convergingGossip / convergingSent / 2,
    detectionMs: firstDeadAt - killedAt,
    suspectSpreadPeriods: (Math.max(...heardAt) - firstSuspectAt) / PROBE_INTERVAL_MS,
    deadSpreadPeriods: (allDeadAt - firstDeadAt) / PROBE_INTERVAL_MS,
    killToAllDeadPeriods: (allDeadAt - killedAt) / PROBE_INTERVAL_MS,
    goalPeriods: 3 * Math.log2(n),
  };
}

function report(r: ScaleResult): string {
  return (
    `[gossip scale] N=${r.n}: ${r.messagesPerMemberPerPeriod.toFixed(2)} messages/member/period steady, ` +
    `${r.convergingMessagesPerMemberPerPeriod.toFixed(2)} while converging ` +
    `(${r.gossipUpdatesPerMessage.toFixed(2)} piggybacked updates/message); ` +
    `first dead verdict ${(r.detectionMs / 1000).toFixed(1)} s after the kill; ` +
    `suspicion reached everyone in ${r.suspectSpreadPeriods.toFixed(1)} periods, ` +
    `the death in ${r.deadSpreadPeriods.toFixed(1)} periods after the first verdict ` +
    `(goal ≤ 3·log2 N = ${r.goalPeriods.toFixed(1)}), ${r.killToAllDeadPeriods.toFixed(1)} periods from kill to all`
  );
}

describe('gossip at scale (virtual time)', () => {
  it('one death among 100 and among 1,000 members: periods to convergence, messages per member per period', { timeout: 600_000 }, async () => {
    const small = await run(100, 41);
    console.log(report(small));
    const large = await run(1000, 42);
    console.log(report(large));
    // Sanity only (generous): logarithmic spread, flat per-member cost.
    expect(large.deadSpreadPeriods).toBeLessThan(10 * large.goalPeriods);
    expect(large.messagesPerMemberPerPeriod).toBeLessThan(3 * small.messagesPerMemberPerPeriod + 1);
  });
});
