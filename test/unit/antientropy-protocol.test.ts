import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peerPackr } from '../../src/adapters/msgpack.js';
import { AAE_PROTOCOL } from '../../src/core/antientropy/protocol.js';
import { serveAae } from '../../src/core/antientropy/serve.js';
import { ByteThrottle } from '../../src/core/antientropy/throttle.js';
import { wireBytes } from '../../src/core/antientropy/wire-size.js';
import type { AaeRequest } from '../../src/core/antientropy/messages.js';
import { parsePeerRequest } from '../../src/core/peer-protocol.js';
import { update } from '../../src/core/version/dvv.js';
import { packObject, toWire } from '../../src/core/version/codec.js';
import { makeSide } from './support/aae-pair.js';

/** The exchange's peer messages: nothing a peer sends may crash a node; every reply is bounded. */


const obj = (n: number, bytes = 8) => update(undefined, [], 'n1.x', { value: new Uint8Array(bytes).fill(n % 256), contentType: 't', deleted: false, lastModifiedMs: n }, 10);

describe('anti-entropy peer messages', () => {
  it('anything with an aae type either parses to a request the server answers, or is rejected with a plain Error', async () => {
    const side = makeSide();
    for (let i = 0; i < 50; i++) await side.trees.put(3, `k${i}`, obj(i));
    const field = fc.oneof(fc.anything(), fc.array(fc.integer({ min: -2, max: 20_000 }), { maxLength: 300 }), fc.array(fc.string(), { maxLength: 300 }));
    fc.assert(
      fc.property(fc.constantFrom('aae-roots', 'aae-hashes', 'aae-keys', 'aae-fetch'), field, field, field, (type, a, b, c) => {
        for (const input of [{ type, partition: a, partitions: b, branches: c, segments: b, keys: c }, { type, partition: 3, partitions: a, branches: a, segments: a, keys: a }]) {
          let parsed;
          try {
            parsed = parsePeerRequest(peerPackr.unpack(peerPackr.pack(input)));
          } catch (error) {
            expect(error).toBeInstanceOf(Error);
            continue;
          }
          const reply = serveAae(side.trees, parsed as AaeRequest);
          expect(reply.type.startsWith('aae-')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects oversized requests', () => {
    expect(() => parsePeerRequest({ type: 'aae-hashes', partition: 0, branches: Array.from({ length: AAE_PROTOCOL.branchesPerRequestMax + 1 }, () => 0) })).toThrow();
    expect(() => parsePeerRequest({ type: 'aae-hashes', partition: 0, branches: [128] })).toThrow();
    expect(() => parsePeerRequest({ type: 'aae-keys', partition: 0, segments: [16384] })).toThrow();
    expect(() => parsePeerRequest({ type: 'aae-fetch', partition: 0, keys: Array.from({ length: AAE_PROTOCOL.fetchKeysMax + 1 }, (_, i) => `k${i}`) })).toThrow();
    expect(() => parsePeerRequest({ type: 'aae-fetch', partition: 0, keys: ['x'.repeat(1025)] })).toThrow();
    expect(() => parsePeerRequest({ type: 'aae-roots', partitions: [65536] })).toThrow();
  });

  it('bounds replies: key lists by whole segments, fetched objects by bytes (always at least one)', async () => {
    const side = makeSide();
    const bySegment = new Map<number, string[]>();
    for (let i = 0; i < 20_000; i++) {
      const key = `key-${i}`;
      await side.trees.put(0, key, obj(i));
      const s = side.trees.segmentOf(key);
      bySegment.set(s, [...(bySegment.get(s) ?? []), key]);
    }
    const segments = [...bySegment.keys()].slice(0, AAE_PROTOCOL.segmentsPerRequestMax);
    const reply = serveAae(side.trees, { type: 'aae-keys', partition: 0, segments });
    if (reply.type !== 'aae-keys') throw new Error('wrong reply');
    expect(reply.keys.length).toBeLessThanOrEqual(AAE_PROTOCOL.keysPerReplyMax);
    expect(reply.keys.length).toBe(segments.slice(0, reply.covered).reduce((n, s) => n + bySegment.get(s)!.length, 0));
    expect(reply.hashes.length).toBe(reply.keys.length * 8);
    // Crowded segments (planted straight into the tree): whole segments up to the key bound, at least one.
    const tree = side.trees.tree(0)!;
    for (let i = 0; i < 5000; i++) for (const s of [100, 101]) tree.set(s, `crowd-${s}-${i}`, BigInt(i + 1));
    for (let i = 0; i < 9000; i++) tree.set(102, `crowd-102-${i}`, BigInt(i + 1));
    const crowded = serveAae(side.trees, { type: 'aae-keys', partition: 0, segments: [100, 101, 102] });
    expect(crowded.type === 'aae-keys' && [crowded.covered, crowded.keys.length]).toEqual([1, 5000 + (bySegment.get(100)?.length ?? 0)]);
    const huge = serveAae(side.trees, { type: 'aae-keys', partition: 0, segments: [102] });
    expect(huge.type === 'aae-keys' && huge.covered).toBe(1);
    for (let i = 0; i < 3; i++) await side.trees.put(1, `big${i}`, obj(i, 3 * 1024 * 1024));
    const big = serveAae(side.trees, { type: 'aae-fetch', partition: 1, keys: ['big0', 'big1', 'big2', 'missing'] });
    if (big.type !== 'aae-objects') throw new Error('wrong reply');
    expect(big.objects.length).toBe(1); // 3 MiB + 3 MiB > 4 MiB: one per reply
    const none = serveAae(side.trees, { type: 'aae-fetch', partition: 1, keys: ['missing'] });
    expect(none).toEqual({ type: 'aae-objects', objects: [null] });
  });

  it('wireBytes matches msgpack for the shapes anti-entropy sends', () => {
    const messages: unknown[] = [
      { type: 'aae-roots', partitions: Array.from({ length: 256 }, (_, i) => i) },
      { type: 'aae-roots', ready: new Uint8Array(256), roots: new Uint8Array(2048) },
      { type: 'aae-hashes', partition: 7, branches: null },
      { type: 'aae-hashes', ready: true, hashes: new Uint8Array(16 * 1024) },
      { type: 'aae-keys', ready: true, covered: 3, keys: ['a', 'bb', 'k'.repeat(40), 'ü'.repeat(20)], hashes: new Uint8Array(32) },
      { type: 'aae-objects', objects: [toWire(obj(1, 100)), null, toWire(obj(300, 70_000))] },
      { type: 'replicate', partition: 200, key: 'cart:1', object: packObject(obj(5)) },
    ];
    for (const m of messages) {
      const actual = peerPackr.pack(m).length;
      expect(Math.abs(wireBytes(m) - actual)).toBeLessThanOrEqual(Math.max(4, actual * 0.02));
    }
  });

  it('the byte throttle allows one second of burst, then paces to the rate', () => {
    const t = new ByteThrottle(1000);
    expect(t.take(600, 0)).toBe(0);
    expect(t.take(400, 0)).toBe(0);
    expect(t.take(500, 0)).toBe(500); // 500 bytes over: half a second
    expect(t.take(0, 500)).toBe(0); // refilled
    expect(t.take(1000, 10_000)).toBe(0); // capped at one second of burst
    expect(t.take(1, 10_000)).toBe(1);
  });
});
