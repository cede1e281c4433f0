import { describe, expect, it } from 'vitest';
import { exchange } from '../../src/core/antientropy/exchange.js';
import { update } from '../../src/core/version/dvv.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import { link, makeSide, type Side } from './support/aae-pair.js';

/**
 * Scale experiment (a measurement, not a timing assertion): one partition held
 * by two replicas with DYNAKV_AAE_SCALE_KEYS keys (100,000 in the suite; run it with 1,000,000) in
 * MemoryStores; 10, 1,000 and 10,000 differences (a third stale on each side,
 * a third missing on one side); one exchange each. Prints the msgpack bytes
 * that crossed the wire, by message, and the time taken. Asserts only what
 * must hold: everything repaired, and 10 differences cost kilobytes.
 *
 *   DYNAKV_AAE_SCALE_KEYS=1000000 npx vitest run test/unit/antientropy-scale.test.ts
 */
const KEYS = Number(process.env.DYNAKV_AAE_SCALE_KEYS ?? 100_000);
const DIFFS = [10, 1_000, 10_000].filter((d) => d * 3 <= KEYS);


const value = new Uint8Array(100).fill(7);
const objectOf = (actor: string, counter: number, base?: VersionedObject): VersionedObject =>
  update(base, base?.vv ?? [], actor, { value, contentType: 'application/octet-stream', deleted: false, lastModifiedMs: 1_700_000_000_000 + counter }, 100);

/** d differences on fresh keys: d/3 stale on a, d/3 stale on b, the rest only on one side (alternating). */
async function diverge(a: Side, b: Side, d: number, offset: number): Promise<void> {
  for (let i = 0; i < d; i++) {
    const key = `user:${(offset + i * 97) % KEYS}`;
    const kind = i % 3;
    if (kind === 2) {
      await (i % 2 === 0 ? a : b).trees.put(0, `new:${offset}:${i}`, objectOf('n9.x', i + 1));
      continue;
    }
    const newer = objectOf('n2.x', offset + i + 1, a.store.get(0, key));
    await (kind === 0 ? b : a).trees.put(0, key, newer);
  }
}

describe(`anti-entropy at scale: one partition, ${KEYS.toLocaleString('en')} keys`, () => {
  it('exchanges move bytes in proportion to the differences, not the keys', { timeout: 900_000 }, async () => {
    const a = makeSide();
    const b = makeSide();
    let t = performance.now();
    for (let i = 0; i < KEYS; i++) {
      const object = objectOf('n1.x', i + 1);
      await a.trees.put(0, `user:${i}`, object);
      await b.trees.put(0, `user:${i}`, object);
    }
    const loadMs = performance.now() - t;
    expect(a.trees.root(0)).toBe(b.trees.root(0));
    const rows: string[] = [];
    let offset = 1;
    for (const d of DIFFS) {
      await diverge(a, b, d, offset);
      offset += d * 7 + 13;
      const { deps, wire } = link(a, b, { keysPerExchangeMax: 16_384, keysPerBatchMax: 128 });
      t = performance.now();
      const result = await exchange(deps, 0);
      const ms = performance.now() - t;
      expect(result.keys.length).toBe(d);
      expect(result.more).toBe(false);
      expect(a.trees.root(0)).toBe(b.trees.root(0));
      const total = wire.requestBytes + wire.replyBytes;
      const tree = (wire.byType['aae-hashes'] ?? 0) + (wire.byType['aae-hashes:reply'] ?? 0);
      const keys = (wire.byType['aae-keys'] ?? 0) + (wire.byType['aae-keys:reply'] ?? 0);
      const objects = total - tree - keys;
      rows.push(
        `${String(d).padStart(6)} diffs | ${fmt(total).padStart(9)} total | tree ${fmt(tree).padStart(9)} | key lists ${fmt(keys).padStart(9)} | objects ${fmt(objects).padStart(9)} | ` +
          `${String(result.branchesDiffering).padStart(3)} branches ${String(result.segmentsDiffering).padStart(5)} segments | ${wire.requests} requests | ${ms.toFixed(0)} ms`,
      );
      if (d === 10) expect(total).toBeLessThan(64 * 1024);
    }
    const heapMiB = process.memoryUsage().heapUsed / 1024 / 1024;
    console.log(`\nanti-entropy scale: ${KEYS.toLocaleString('en')} keys per replica, loaded in ${(loadMs / 1000).toFixed(1)} s (heap ${heapMiB.toFixed(0)} MiB)\n${rows.join('\n')}\n`);
  });
});

function fmt(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
