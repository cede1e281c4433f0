import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory-store.js';
import { EPOCH_LEASE_BLOCK, KeyEpochs } from '../../src/core/version/key-epochs.js';

describe('KeyEpochs', () => {
  it('keeps using the newest epoch of this node found in the vector', async () => {
    const epochs = new KeyEpochs('n1.x', new MemoryStore());
    await epochs.ready;
    const vv = [['n1.x:3', 7], ['n1.x:a', 2], ['n1.y:z', 9], ['n2.x:zz', 4]] as const;
    expect(epochs.actorFor(vv)).toBe('n1.x:a');
    expect(epochs.started).toBe(0);
  });

  it('starts a fresh epoch when this node holds nothing of the key, never reusing one', async () => {
    const epochs = new KeyEpochs('n1.x', new MemoryStore());
    await epochs.ready;
    const a = epochs.actorFor(undefined);
    const b = epochs.actorFor([['n2.q:0', 1]]);
    expect(a).not.toBe(b);
    expect(a.startsWith('n1.x:')).toBe(true);
    expect(epochs.started).toBe(2);
  });

  it('resumes above every epoch handed out before a restart', async () => {
    const store = new MemoryStore();
    const first = new KeyEpochs('n1.x', store);
    await first.ready;
    const before = new Set(Array.from({ length: 10 }, () => first.actorFor(undefined)));
    const second = new KeyEpochs('n1.x', store);
    await second.ready;
    const after = second.actorFor(undefined);
    expect(before.has(after)).toBe(false);
    expect(Number.parseInt(after.split(':')[1]!, 36)).toBeGreaterThanOrEqual(EPOCH_LEASE_BLOCK);
  });

  it('is not ready until its first lease is durable', async () => {
    const epochs = new KeyEpochs('n1.x', new MemoryStore());
    expect(epochs.isReady).toBe(false);
    await epochs.ready;
    expect(epochs.isReady).toBe(true);
  });
});
