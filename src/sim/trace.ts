import { createHash, type Hash } from 'node:crypto';

/** Characters buffered before they are fed to the hash (fewer, larger updates). */
const PENDING_CHARS_MAX = 64 * 1024;
/** Lines kept for a failure report. */
const RECENT_LINES_MAX = 200;

/**
 * The event trace of one run: every line (message send/deliver/drop, timer
 * fire, fault, client operation) goes into a running SHA-256. Two runs of the
 * same seed must produce the same digest, bit for bit: that is the test of
 * determinism (DESIGN §2). The last lines are kept for failure reports, and a
 * sink may print them all (`--trace-log`).
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private pending = '';
  private readonly recentLines: string[] = [];
  private recentAt = 0;
  lines = 0;

  constructor(private readonly sink?: (line: string) => void) {}

  record(line: string): void {
    this.lines++;
    this.pending += line;
    this.pending += '\n';
    if (this.pending.length >= PENDING_CHARS_MAX) this.flush();
    if (this.recentLines.length < RECENT_LINES_MAX) this.recentLines.push(line);
    else this.recentLines[this.recentAt] = line;
    this.recentAt = (this.recentAt + 1) % RECENT_LINES_MAX;
    this.sink?.(line);
  }

  /** Hex digest of everything recorded so far (the trace may continue afterwards). */
  digest(): string {
    this.flush();
    return this.hash.copy().digest('hex');
  }

  /** The last lines recorded, oldest first. */
  recent(): string[] {
    if (this.recentLines.length < RECENT_LINES_MAX) return this.recentLines.slice();
    return [...this.recentLines.slice(this.recentAt), ...this.recentLines.slice(0, this.recentAt)];
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.hash.update(this.pending, 'utf8');
    this.pending = '';
  }
}
