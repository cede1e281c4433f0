import { describe, expect, it } from 'vitest';
import { formatFailure, runSimulation } from '../../src/sim/simulation.js';

describe('deterministic simulation', () => {
  it('the same seed gives the same trace hash, bit for bit', async () => {
    const first = await runSimulation({ seed: 3 });
    const second = await runSimulation({ seed: 3 });
    expect(first.trace).toMatch(/^[0-9a-f]{64}$/);
    expect(second.trace).toBe(first.trace);
    expect(second.events).toBe(first.events);
    expect(second.acked).toBe(first.acked);
    expect(second.virtualMs).toBe(first.virtualMs);
  });

  it('different seeds give different traces', async () => {
    const seven = await runSimulation({ seed: 7 });
    const eight = await runSimulation({ seed: 8 });
    expect(seven.trace).not.toBe(eight.trace);
  });

  it('ten seeds with faults pass every checker', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const result = await runSimulation({ seed });
      if (!result.ok) throw new Error(formatFailure(result));
      expect(result.faults).toBeGreaterThan(0);
      expect(result.acked).toBeGreaterThan(0);
      expect(result.set?.lost).toEqual([]);
      expect(result.set?.acked).toBe(result.acked);
    }
  });

  it('a fault-free run acknowledges every add and converges without read repair beyond one sweep', async () => {
    const result = await runSimulation({ seed: 11, faults: false, steps: 100 });
    expect(result.ok).toBe(true);
    expect(result.faults).toBe(0);
    expect(result.acked).toBe(100);
    expect(result.unknown + result.failed).toBe(0);
  });

  it('several rounds (a wipe allowed in each) still lose nothing', async () => {
    const result = await runSimulation({ seed: 21, rounds: 3, steps: 120 });
    if (!result.ok) throw new Error(formatFailure(result));
    expect(result.set?.acked).toBe(result.acked);
  });
});
