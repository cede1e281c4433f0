import { slotOf } from './hint-queue.js';
import type { HintLog, StoredHint } from '../../ports/hint-log.js';

/** A HintLog that keeps nothing beyond the process (tests, and the simulator's "disk"). */
export class MemoryHintLog implements HintLog {
  private readonly hints = new Map<string, StoredHint>();

  load(): StoredHint[] {
    return [...this.hints.values()];
  }

  save(hint: StoredHint): Promise<void> {
    this.hints.set(`${hint.target}\u0000${slotOf(hint.partition, hint.key)}`, hint);
    return Promise.resolve();
  }

  remove(target: string, partition: number, key: string): Promise<void> {
    this.hints.delete(`${target}\u0000${slotOf(partition, key)}`);
    return Promise.resolve();
  }

  wipe(): void {
    this.hints.clear();
  }
}
