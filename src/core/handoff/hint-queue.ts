import type { HintLog, StoredHint } from '../../ports/hint-log.js';
import { DynakvError } from '../errors.js';
import type { NodeId } from '../messages.js';
import { merge } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';

export interface HintLimits {
  /** Hints held at once, all targets together. */
  hintsMax: number;
  /** Approximate value bytes held in hints. */
  hintBytesMax: number;
}

export const HINT_LIMITS_DEFAULT: HintLimits = {
  hintsMax: 200_000,
  hintBytesMax: 256 * 1024 * 1024,
};

interface Hint extends StoredHint {
  readonly bytes: number;
}

/**
 * The hints a fallback holds, per intended owner (Dynamo's hinted handoff).
 * All in memory (bounded) and written through to a durable log. Hints for the
 * same owner and key merge with the DVV sync rule, so the queue never holds
 * more than one object per (owner, key).
 */
export class HintQueue {
  private readonly byTarget = new Map<NodeId, Map<string, Hint>>();
  private count = 0;
  private bytes = 0;
  /** Hints dropped because the hint window passed (anti-entropy takes over). */
  expired = 0;
  delivered = 0;

  constructor(
    private readonly log: HintLog,
    private readonly limits: HintLimits = HINT_LIMITS_DEFAULT,
  ) {
    for (const hint of log.load()) this.hold({ ...hint, bytes: sizeOf(hint.object) });
  }

  /** Stores (merges) a hint; resolves once durable. Refuses with `overloaded` beyond the bounds. */
  add(target: NodeId, partition: number, key: string, object: VersionedObject, nowMs: number): Promise<void> {
    const slot = slotOf(partition, key);
    const existing = this.byTarget.get(target)?.get(slot);
    const merged = existing === undefined ? object : merge(existing.object, object);
    const bytes = sizeOf(merged);
    const grow = existing === undefined ? 1 : 0;
    if (this.count + grow > this.limits.hintsMax || this.bytes + bytes - (existing?.bytes ?? 0) > this.limits.hintBytesMax) {
      return Promise.reject(new DynakvError('overloaded', 'hint queue is full', { retryAfterSeconds: 1 }));
    }
    const hint: Hint = { target, partition, key, createdAtMs: existing?.createdAtMs ?? nowMs, object: merged, bytes };
    this.hold(hint);
    return this.log.save(hint);
  }

  /** Everything held for `key`, whatever the owner: a fallback answering a read. */
  objectFor(partition: number, key: string): VersionedObject | undefined {
    const slot = slotOf(partition, key);
    let out: VersionedObject | undefined;
    for (const hints of this.byTarget.values()) {
      const hint = hints.get(slot);
      if (hint !== undefined) out = out === undefined ? hint.object : merge(out, hint.object);
    }
    return out;
  }

  targets(): NodeId[] {
    return [...this.byTarget.keys()].sort();
  }

  /** Up to `limit` hints for one owner, oldest slots first (insertion order). */
  batch(target: NodeId, limit: number): StoredHint[] {
    const out: StoredHint[] = [];
    const hints = this.byTarget.get(target);
    if (hints === undefined) return out;
    for (const hint of hints.values()) {
      if (out.length >= limit) break;
      out.push(hint);
    }
    return out;
  }

  /**
   * The owner acknowledged `sent`: drop the hint unless a newer write merged
   * into it meanwhile (then it stays, to be delivered again).
   */
  acknowledged(sent: StoredHint): Promise<void> {
    const hints = this.byTarget.get(sent.target);
    const slot = slotOf(sent.partition, sent.key);
    const current = hints?.get(slot);
    if (current === undefined || current.object !== sent.object) return Promise.resolve();
    this.delivered++;
    this.release(sent.target, slot, current);
    return this.log.remove(sent.target, sent.partition, sent.key);
  }

  /** Drops hints older than the hint window; returns how many. */
  expire(nowMs: number, windowMs: number): number {
    let dropped = 0;
    for (const [target, hints] of this.byTarget) {
      for (const [slot, hint] of hints) {
        if (nowMs - hint.createdAtMs < windowMs) continue;
        this.release(target, slot, hint);
        void this.log.remove(target, hint.partition, hint.key).catch(() => undefined);
        dropped++;
      }
    }
    this.expired += dropped;
    return dropped;
  }

  stats(): { pending: number; bytes: number; byTarget: Record<string, number> } {
    const byTarget: Record<string, number> = {};
    for (const [target, hints] of this.byTarget) byTarget[target] = hints.size;
    return { pending: this.count, bytes: this.bytes, byTarget };
  }

  private hold(hint: Hint): void {
    let hints = this.byTarget.get(hint.target);
    if (hints === undefined) {
      hints = new Map();
      this.byTarget.set(hint.target, hints);
    }
    const slot = slotOf(hint.partition, hint.key);
    const previous = hints.get(slot);
    if (previous === undefined) this.count++;
    else this.bytes -= previous.bytes;
    hints.set(slot, hint);
    this.bytes += hint.bytes;
  }

  private release(target: NodeId, slot: string, hint: Hint): void {
    const hints = this.byTarget.get(target);
    if (hints === undefined || !hints.delete(slot)) return;
    this.count--;
    this.bytes -= hint.bytes;
    if (hints.size === 0) this.byTarget.delete(target);
  }
}

export function slotOf(partition: number, key: string): string {
  return `${partition}\u0000${key}`;
}

function sizeOf(object: VersionedObject): number {
  let bytes = 64;
  for (const s of object.siblings) bytes += s.value.byteLength + s.contentType.length + 32;
  return bytes;
}
