import { describe, expect, it } from 'vitest';
import { Awareness } from '../../src/core/membership/awareness.js';
import { BroadcastQueue, retransmitLimit } from '../../src/core/membership/broadcast-queue.js';
import { MEMBERSHIP_DEFAULTS, membershipConfig, pushPullIntervalMs } from '../../src/core/membership/config.js';
import { judge, mustRefute, restored } from '../../src/core/membership/member-state.js';
import { pickRandom, ProbeOrder } from '../../src/core/membership/probe.js';
import { expectedConfirmations, remainingSuspicionMs, Suspicion, suspicionTimeoutMs } from '../../src/core/membership/suspicion.js';
import type { MemberStatus, MemberUpdate } from '../../src/core/messages.js';
import { Prng } from '../../src/sim/prng.js';
import { GossipNet } from './support/gossip-net.js';

const update = (id: string, status: MemberStatus, incarnation = 1, from = 'x'): MemberUpdate => ({ id, api: `${id}:api`, peer: `${id}:peer`, status, incarnation, zone: undefined, from });

describe('suspicion timeout math (memberlist suspicionTimeout / remainingSuspicionTime)', () => {
  it('minimum = mult · max(1, log10 N) · interval', () => {
    expect(suspicionTimeoutMs(4, 1, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 5, 1000)).toBe(4000); // log10 5 < 1: the floor of 1 applies
    expect(suspicionTimeoutMs(4, 10, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 100, 1000)).toBe(8000);
    expect(suspicionTimeoutMs(4, 1000, 1000)).toBe(12000);
    expect(suspicionTimeoutMs(5, 1000, 200)).toBe(3000);
  });

  it('expects mult − 2 confirmations, none in clusters too small to give them', () => {
    expect(expectedConfirmations(4, 5)).toBe(2);
    expect(expectedConfirmations(4, 4)).toBe(2);
    expect(expectedConfirmations(4, 3)).toBe(0);
    expect(expectedConfirmations(2, 100)).toBe(0);
  });

  it('shrinks from max to min on a log scale as confirmations arrive (memberlist TestSuspicion_remainingSuspicionTime)', () => {
    // The table of memberlist's own test, in ms.
    const cases: Array<[n: number, k: number, elapsed: number, min: number, max: number, expected: number]> = [
      [0, 3, 0, 2000, 30000, 30000],
      [1, 3, 2000, 2000, 30000, 14000],
      [2, 3, 3000, 2000, 30000, 4810],
      [3, 3, 4000, 2000, 30000, -2000],
      [4, 3, 5000, 2000, 30000, -3000],
      [5, 3, 10000, 2000, 30000, -8000],
    ];
    for (const [n, k, elapsed, min, max, expected] of cases) expect(remainingSuspicionMs(n, k, elapsed, min, max)).toBe(expected);
  });

  it('with k = 0 the timeout is the minimum', () => {
    expect(remainingSuspicionMs(0, 0, 0, 4000, 24000)).toBe(4000);
  });
});

describe('Suspicion timer', () => {
  async function timerRun(confirmAt: Array<[atMs: number, from: string]>, k: number): Promise<number> {
    const net = new GossipNet(1);
    const { clock } = net.host('a');
    const start = net.nowMs;
    let firedAt = -1;
    const s = new Suspicion(clock, 'a', { k, minMs: 4000, maxMs: 24000, stallToleranceMs: 500, stallGraceMs: 1000 }, () => (firedAt = net.nowMs - start));
    net.attach('a', async () => ({ type: 'ack' }));
    for (const [atMs, from] of confirmAt) net.scheduler.after(atMs, 'confirm', () => s.confirm(from));
    await net.runFor(30_000);
    return firedAt;
  }

  it('fires at max without confirmations, at min after k distinct ones, never earlier than min', async () => {
    expect(await timerRun([], 2)).toBe(24000);
    expect(await timerRun([[1000, 'b'], [2000, 'c']], 2)).toBe(4000);
    // Duplicates and the original suspecter do not count.
    expect(await timerRun([[1000, 'b'], [1500, 'b'], [2000, 'a']], 2)).toBe(Math.floor(24000 - (20000 * Math.log(2)) / Math.log(3)));
    // Confirmations after min already elapsed: due at once.
    expect(await timerRun([[5000, 'b'], [6000, 'c']], 2)).toBe(6000);
  });

  it('a timer that fires late (a stalled process) grants one grace period', async () => {
    const net = new GossipNet(2);
    const { clock } = net.host('a');
    net.attach('a', async () => ({ type: 'ack' }));
    let fired = 0;
    new Suspicion(clock, 'a', { k: 0, minMs: 4000, maxMs: 4000, stallToleranceMs: 500, stallGraceMs: 1000 }, () => (fired = net.nowMs));
    net.pause('a');
    await net.runFor(10_000);
    net.resume('a');
    await net.runFor(500);
    expect(fired).toBe(0); // fired 6 s late: grace instead of a verdict
    await net.runFor(1000);
    expect(fired).toBe(11_000);
  });
});

describe('retransmit-limited broadcast queue (memberlist TransmitLimitedQueue)', () => {
  it('retransmitLimit = mult · ceil(log10(N + 1))', () => {
    expect(retransmitLimit(4, 0)).toBe(0);
    expect(retransmitLimit(4, 1)).toBe(4);
    expect(retransmitLimit(4, 5)).toBe(4);
    expect(retransmitLimit(4, 9)).toBe(4);
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 99)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
    expect(retransmitLimit(4, 1000)).toBe(16);
    expect(retransmitLimit(3, 1000)).toBe(12);
  });

  it('sends each update at most `limit` times, then drops it', () => {
    const queue = new BroadcastQueue(100);
    queue.enqueue(update('a', 'suspect'));
    let sent = 0;
    for (let i = 0; i < 10; i++) sent += queue.take(3, 10, 10_000).length;
    expect(sent).toBe(3);
    expect(queue.size).toBe(0);
  });

  it('least-transmitted first, newest first among equals; a newer update about a member replaces the queued one', () => {
    const queue = new BroadcastQueue(100);
    queue.enqueue(update('a', 'suspect'));
    queue.enqueue(update('b', 'suspect'));
    expect(queue.take(5, 1, 10_000).map((u) => u.id)).toEqual(['b']);
    queue.enqueue(update('c', 'dead'));
    expect(queue.take(5, 2, 10_000).map((u) => u.id)).toEqual(['c', 'a']);
    queue.enqueue(update('a', 'alive', 2));
    expect(queue.size).toBe(3);
    expect(queue.peek('a')).toEqual({ update: update('a', 'alive', 2), transmits: 0 });
  });

  it('bounds updates and bytes per message, and the queue itself', () => {
    const queue = new BroadcastQueue(5);
    for (let i = 0; i < 8; i++) queue.enqueue(update(`m${i}`, 'alive'));
    expect(queue.size).toBe(5);
    expect(queue.take(5, 3, 10_000)).toHaveLength(3);
    expect(queue.take(5, 10, 100)).toHaveLength(1); // one update is ~60 estimated bytes
    expect(queue.take(5, 10, 10)).toHaveLength(0);
  });
});

describe('gossip precedence (memberlist aliveNode / suspectNode / deadNode)', () => {
  const known = (status: MemberStatus, incarnation: number) => ({ status, incarnation });

  it('alive needs a higher incarnation; suspect and dead win at the same one', () => {
    expect(judge(known('alive', 3), { status: 'alive', incarnation: 3 })).toBe('ignore');
    expect(judge(known('suspect', 3), { status: 'alive', incarnation: 4 })).toBe('apply');
    expect(judge(known('dead', 3), { status: 'alive', incarnation: 4 })).toBe('apply');
    expect(judge(known('alive', 3), { status: 'suspect', incarnation: 3 })).toBe('apply');
    expect(judge(known('alive', 3), { status: 'suspect', incarnation: 2 })).toBe('ignore');
    expect(judge(known('suspect', 3), { status: 'suspect', incarnation: 3 })).toBe('confirm');
    expect(judge(known('dead', 3), { status: 'suspect', incarnation: 5 })).toBe('ignore');
    expect(judge(known('suspect', 3), { status: 'dead', incarnation: 3 })).toBe('apply');
    expect(judge(known('dead', 3), { status: 'dead', incarnation: 4 })).toBe('ignore');
    expect(judge(known('dead', 3), { status: 'left', incarnation: 3 })).toBe('apply');
    expect(judge(undefined, { status: 'dead', incarnation: 1 })).toBe('apply');
  });

  it('a node refutes suspicion or death at its incarnation or later, and stale records of itself', () => {
    const self = { status: 'alive' as const, incarnation: 5 };
    expect(mustRefute(self, { status: 'suspect', incarnation: 5 })).toBe(true);
    expect(mustRefute(self, { status: 'dead', incarnation: 7 })).toBe(true);
    expect(mustRefute(self, { status: 'suspect', incarnation: 4 })).toBe(false);
    expect(mustRefute(self, { status: 'alive', incarnation: 5 })).toBe(false);
    expect(mustRefute(self, { status: 'alive', incarnation: 9 })).toBe(true);
    expect(mustRefute({ status: 'leaving', incarnation: 5 }, { status: 'left', incarnation: 5 })).toBe(false);
  });
});

describe('probe target choice and local health', () => {
  it('shuffled round-robin: each eligible member once per round', () => {
    const order = new ProbeOrder(Prng.root(3));
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const round1 = ids.map(() => order.next(() => ids, (id) => id !== 'c'));
    const picked = round1.slice(0, 4);
    expect([...picked].sort()).toEqual(['a', 'b', 'd', 'e']);
    expect(new ProbeOrder(Prng.root(3)).next(() => [], () => true)).toBeUndefined();
  });

  it('pickRandom gives distinct items, at most k', () => {
    const picked = pickRandom(['a', 'b', 'c', 'd'], 3, Prng.root(4));
    expect(new Set(picked).size).toBe(3);
    expect(pickRandom(['a'], 3, Prng.root(4))).toEqual(['a']);
  });

  it('awareness scales timeouts by score + 1, clamped to 0..max-1', () => {
    const awareness = new Awareness(8);
    awareness.apply(-3);
    expect(awareness.scale(500)).toBe(500);
    awareness.apply(20);
    expect(awareness.score).toBe(7);
    expect(awareness.scale(500)).toBe(4000);
  });

  it('config: LAN defaults, checked overrides, push-pull scaled with log2 N past 32 members', () => {
    expect(MEMBERSHIP_DEFAULTS).toMatchObject({ probeIntervalMs: 1000, probeTimeoutMs: 500, indirectChecks: 3, suspicionMult: 4, retransmitMult: 4, pushPullIntervalMs: 15_000 });
    expect(() => membershipConfig({ probeTimeoutMs: 2000 })).toThrow(/shorter/);
    expect(() => membershipConfig({ indirectChecks: 0 })).toThrow(/positive/);
    const config = membershipConfig();
    expect(pushPullIntervalMs(config, 5)).toBe(15_000);
    expect(pushPullIntervalMs(config, 64)).toBe(30_000);
    expect(pushPullIntervalMs(config, 1000)).toBe(90_000);
  });
});

describe('member records restored from disk', () => {
  it('a suspicion restarts as alive one incarnation back, so any news of that incarnation (leaving, joining) still applies', () => {
    const suspect = { id: 'n3', api: '', peer: '', status: 'suspect' as const, incarnation: 3, zone: undefined };
    const back = restored(suspect);
    expect(back).toMatchObject({ status: 'alive', incarnation: 2 });
    for (const status of ['leaving', 'joining', 'alive', 'suspect', 'dead', 'left'] as const) {
      expect(judge(back, { status, incarnation: 3 })).toBe('apply');
    }
    const alive = { ...suspect, status: 'alive' as const };
    expect(restored(alive)).toBe(alive);
    // Why: an "alive" record at the member's own incarnation would hide its "leaving" for good.
    expect(judge(alive, { status: 'leaving', incarnation: 3 })).toBe('ignore');
  });
});
