import { describe, expect, it, vi } from 'vitest';
import type { VersionedObject } from '../../src/core/version/types.js';
import { formatFailure, runSimulation } from '../../src/sim/simulation.js';

/**
 * The checkers must be able to fail: with a merge that drops the last sibling
 * whenever there are two or more (the classic "lost concurrent write" bug),
 * the set checker reports acknowledged adds lost, and the report names the seed.
 */
vi.mock('../../src/core/version/dvv.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/core/version/dvv.js')>();
  return {
    ...original,
    merge(a: VersionedObject, b: VersionedObject): VersionedObject {
      const merged = original.merge(a, b);
      return merged.siblings.length >= 2 ? { vv: merged.vv, siblings: merged.siblings.slice(0, -1) } : merged;
    },
  };
});

describe('checkers catch a broken merge', () => {
  it('reports lost acknowledged adds with the seed that replays them', async () => {
    const seeds = [1, 2, 3];
    const results = [];
    for (const seed of seeds) results.push(await runSimulation({ seed, keys: 2, clients: 6 }));
    const failed = results.filter((r) => !r.ok);
    expect(failed.length).toBeGreaterThan(0);
    for (const result of failed) {
      expect(result.lost).toBeGreaterThan(0);
      const report = formatFailure(result);
      expect(report).toContain(`FAILED seed=${result.seed}:`);
      expect(report).toMatch(/lost \d+ acknowledged adds/);
      expect(report).toContain(`npm run sim -- --seed ${result.seed}`);
      // A seed replays only with the options it ran with.
      expect(formatFailure(result, ['--changes', '--w', '1'])).toContain(`replay: npm run sim -- --seed ${result.seed} --changes --w 1`);
    }
  });
});
