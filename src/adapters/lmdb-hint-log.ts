import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { fromWire, toWire } from '../core/version/codec.js';
import type { HintLog, StoredHint } from '../ports/hint-log.js';
import { peerPackr } from './msgpack.js';

/**
 * Hints on LMDB, in their own environment beside the object store, so a hint
 * is on disk (fsync'd, group-committed) before the fallback acknowledges it.
 * Key: target \0 partition \0 key; value: msgpack [createdAtMs, wire object].
 */
export class LmdbHintLog implements HintLog {
  private constructor(
    private readonly root: RootDatabase,
    private readonly hints: Database<Uint8Array, string>,
  ) {}

  static open(path: string, options: { sync: 'fsync' | 'none' }): LmdbHintLog {
    mkdirSync(path, { recursive: true });
    const durable = options.sync === 'fsync';
    const root = open(path, { noSubdir: false, overlappingSync: false, noSync: !durable });
    const hints = root.openDB<Uint8Array, string>({ name: 'hints', encoding: 'binary' });
    return new LmdbHintLog(root, hints);
  }

  /** Every hint on disk; an undecodable record is skipped (anti-entropy repairs what it carried). */
  load(): StoredHint[] {
    const out: StoredHint[] = [];
    for (const { key, value } of this.hints.getRange()) {
      try {
        const [target, partition, objectKey] = splitKey(String(key));
        const [createdAtMs, wire] = peerPackr.unpack(value) as [number, unknown];
        if (!Number.isSafeInteger(createdAtMs)) throw new Error('bad time');
        out.push({ target, partition, key: objectKey, createdAtMs, object: fromWire(wire) });
      } catch {
        continue;
      }
    }
    return out;
  }

  async save(hint: StoredHint): Promise<void> {
    await this.hints.put(joinKey(hint.target, hint.partition, hint.key), peerPackr.pack([hint.createdAtMs, toWire(hint.object)]));
  }

  async remove(target: string, partition: number, key: string): Promise<void> {
    await this.hints.remove(joinKey(target, partition, key));
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}

function joinKey(target: string, partition: number, key: string): string {
  return `${target}\u0000${partition}\u0000${key}`;
}

function splitKey(joined: string): [string, number, string] {
  const first = joined.indexOf('\u0000');
  const second = joined.indexOf('\u0000', first + 1);
  if (first < 0 || second < 0) throw new Error('bad hint key');
  return [joined.slice(0, first), Number(joined.slice(first + 1, second)), joined.slice(second + 1)];
}
