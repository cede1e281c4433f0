import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { DOT_LEASE_BLOCK, DotClock } from '../../src/core/version/dot-clock.js';

describe('DotClock', () => {
  it('mints above everything minted before a restart, even if the crash lost the last lease renewal', async () => {
    const store = new MemoryStore();
    const first = new DotClock(store);
    await first.ready;
    expect(first.floor()).toBe(0);
    for (let c = 1; c <= 10; c++) first.minted(c);
    // A "restart": a new clock over the same store resumes at the durable lease.
    const second = new DotClock(store);
    await second.ready;
    expect(second.floor()).toBeGreaterThanOrEqual(DOT_LEASE_BLOCK);
    expect(second.floor()).toBeGreaterThan(10);
  });

  it('renews the lease before it runs out', async () => {
    const store = new MemoryStore();
    const clock = new DotClock(store);
    await clock.ready;
    clock.minted(DOT_LEASE_BLOCK - 1);
    await new Promise((r) => setImmediate(r));
    const restarted = new DotClock(store);
    expect(restarted.floor()).toBeGreaterThanOrEqual(2 * DOT_LEASE_BLOCK - 1);
  });

  it('is not ready until its first lease is durable', async () => {
    const clock = new DotClock(new MemoryStore());
    expect(clock.isReady).toBe(false);
    await clock.ready;
    expect(clock.isReady).toBe(true);
  });
});
