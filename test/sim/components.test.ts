import { describe, expect, it } from 'vitest';
import type { NodeId, PeerReply } from '../../src/core/messages.js';
import type { PeerHandler } from '../../src/ports/transport.js';
import { PeerRefusedError, PeerTimeoutError, SimNetwork, type Endpoint } from '../../src/sim/network.js';
import { Prng } from '../../src/sim/prng.js';
import { Trace } from '../../src/sim/trace.js';
import { NodeClock, Scheduler, SIM_EPOCH_MS } from '../../src/sim/virtual-clock.js';

describe('Prng', () => {
  it('is a function of the seed and the stream name only', () => {
    const a = Prng.root(42).fork('network');
    const root = Prng.root(42);
    const other = root.fork('nemesis');
    for (let i = 0; i < 100; i++) other.next(); // draws elsewhere do not shift this stream
    const b = root.fork('network');
    const xs = Array.from({ length: 20 }, () => a.u32());
    const ys = Array.from({ length: 20 }, () => b.u32());
    expect(ys).toEqual(xs);
    expect(Prng.root(43).fork('network').u32()).not.toBe(xs[0]);
    expect(Prng.root(42).fork('workload').u32()).not.toBe(xs[0]);
  });

  it('draws in range', () => {
    const r = Prng.root(1);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      counts[r.int(6)]!++;
      const y = r.between(-3, 3);
      expect(y >= -3 && y <= 3).toBe(true);
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('Scheduler', () => {
  it('orders by time, then by scheduling order; cancelled events never run', async () => {
    const scheduler = new Scheduler(new Trace());
    const ran: string[] = [];
    scheduler.after(5, 'b', () => ran.push('b'));
    scheduler.after(1, 'a', () => ran.push('a'));
    scheduler.after(5, 'c', () => ran.push('c'));
    const cancelled = scheduler.after(3, 'x', () => ran.push('x'));
    scheduler.cancel(cancelled);
    scheduler.after(5, 'd', () => scheduler.after(0, 'e', () => ran.push('e')));
    await scheduler.runFor(10);
    expect(ran).toEqual(['a', 'b', 'c', 'e']);
    expect(scheduler.nowMs).toBe(10);
  });

  it('settles promise continuations between events', async () => {
    const scheduler = new Scheduler(new Trace());
    const ran: string[] = [];
    scheduler.after(1, 'first', () => {
      void Promise.resolve()
        .then(() => undefined)
        .then(() => ran.push('first: chained continuation'));
    });
    scheduler.after(1, 'second', () => ran.push('second'));
    await scheduler.runFor(2);
    expect(ran).toEqual(['first: chained continuation', 'second']);
  });

  it('node clocks add skew to now() only, and clearAll cancels their timers', async () => {
    const scheduler = new Scheduler(new Trace());
    let skew = 0;
    const fired: number[] = [];
    const clock = new NodeClock(scheduler, 'n1', () => skew, (_label, cb) => cb());
    clock.setTimer(100, () => fired.push(scheduler.nowMs));
    skew = -60_000;
    expect(clock.now()).toBe(SIM_EPOCH_MS - 60_000);
    await scheduler.runFor(150);
    expect(fired).toEqual([100]);
    clock.setTimer(10, () => fired.push(-1));
    clock.clearAll();
    await scheduler.runFor(50);
    expect(fired).toEqual([100]);
  });
});

class FakeEndpoint implements Endpoint {
  state: 'up' | 'down' | 'paused' = 'up';
  life = 0;
  held: Array<() => void> = [];
  received: unknown[] = [];
  constructor(
    readonly id: NodeId,
    readonly peer: string,
  ) {}
  enter(life: number, _label: string, callback: () => void): void {
    if (life !== this.life || this.state === 'down') return;
    if (this.state === 'paused') this.held.push(callback);
    else callback();
  }
  handler(): PeerHandler | undefined {
    return async (message) => {
      this.received.push(message);
      return { type: 'ack' };
    };
  }
  resume(): void {
    this.state = 'up';
    for (const cb of this.held.splice(0)) cb();
  }
}

async function setup() {
  const scheduler = new Scheduler(new Trace());
  const bugs: string[] = [];
  const network = new SimNetwork(scheduler, Prng.root(9).fork('network'), (b) => bugs.push(b));
  const a = new FakeEndpoint('a', 'host-a:1');
  const b = new FakeEndpoint('b', 'host-b:1');
  network.register(a);
  network.register(b);
  const transport = network.transportFor('a', 0);
  const outcome = (p: Promise<PeerReply>) => {
    const box: { value?: PeerReply; error?: Error; atMs?: number } = {};
    p.then(
      (value) => Object.assign(box, { value, atMs: scheduler.nowMs }),
      (error: Error) => Object.assign(box, { error, atMs: scheduler.nowMs }),
    );
    return box;
  };
  return { scheduler, network, a, b, transport, outcome, bugs };
}

describe('SimNetwork', () => {
  const replicate = { type: 'read' as const, partition: 1, key: 'k' };

  it('delivers through msgpack (a copy, never the sender object) and resolves with the reply', async () => {
    const { scheduler, b, transport, outcome } = await setup();
    const got = outcome(transport.request('b', replicate, 1000));
    await scheduler.runFor(100);
    expect(got.value).toEqual({ type: 'ack' });
    expect(b.received).toEqual([replicate]);
    expect(b.received[0]).not.toBe(replicate);
  });

  it('addresses a seed by "@peer address"', async () => {
    const { scheduler, b, transport, outcome } = await setup();
    const got = outcome(transport.request('@host-b:1', replicate, 1000));
    await scheduler.runFor(100);
    expect(got.value).toEqual({ type: 'ack' });
    expect(b.received).toHaveLength(1);
  });

  it('a partitioned peer: the request rejects exactly at its timeout', async () => {
    const { scheduler, network, b, transport, outcome } = await setup();
    network.cutBetween(['a'], ['b']);
    const got = outcome(transport.request('b', replicate, 700));
    await scheduler.runFor(2000);
    expect(got.error).toBeInstanceOf(PeerTimeoutError);
    expect(got.atMs).toBe(700);
    expect(b.received).toHaveLength(0);
  });

  it('a down peer refuses quickly', async () => {
    const { scheduler, b, transport, outcome } = await setup();
    b.state = 'down';
    const got = outcome(transport.request('b', replicate, 5000));
    await scheduler.runFor(6000);
    expect(got.error).toBeInstanceOf(PeerRefusedError);
    expect(got.atMs!).toBeLessThan(20);
  });

  it('a paused peer handles the request on resume; the sender has already timed out', async () => {
    const { scheduler, b, transport, outcome } = await setup();
    b.state = 'paused';
    const got = outcome(transport.request('b', replicate, 500));
    await scheduler.runFor(1000);
    expect(got.error).toBeInstanceOf(PeerTimeoutError);
    expect(b.received).toHaveLength(0);
    b.resume();
    await scheduler.runFor(10);
    expect(b.received).toHaveLength(1);
  });

  it('a peer dying while handling: connection reset', async () => {
    const { scheduler, network, b, transport, outcome } = await setup();
    b.state = 'paused';
    const got = outcome(transport.request('b', replicate, 5000));
    await scheduler.runFor(50);
    b.state = 'down';
    b.life++;
    network.nodeDied('b');
    await scheduler.runFor(50);
    expect(got.error).toBeInstanceOf(PeerRefusedError);
    expect(got.error!.message).toContain('reset');
  });

  it('under loss, duplication and reordering every request settles by its timeout', async () => {
    const { scheduler, network, transport, outcome } = await setup();
    network.faults = { lossRate: 0.3, duplicateRate: 0.3, reorder: true, delayMsMin: 1, delayMsMax: 50, slowRate: 0.2, slowDelayMsMax: 3000 };
    const boxes = Array.from({ length: 200 }, () => outcome(transport.request('b', replicate, 1000)));
    await scheduler.runFor(1000);
    for (const box of boxes) expect(box.value !== undefined || box.error !== undefined).toBe(true);
    expect(boxes.some((x) => x.value !== undefined)).toBe(true);
    expect(boxes.some((x) => x.error instanceof PeerTimeoutError)).toBe(true);
    expect(network.stats.duplicated).toBeGreaterThan(0);
  });
});
