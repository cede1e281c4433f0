/**
 * The load generator: `clients` closed-loop async clients in this process,
 * each pinned to one target process through an undici Pool (`Pool.request`,
 * one connection per client, no pipelining). Latencies go into HDR histograms
 * per operation type; only operations that start after the warm-up and end
 * before the phase stops are measured.
 *
 * Closed loop, like YCSB's default: a slow response delays that client's next
 * request, so latency under saturation is understated (coordinated omission);
 * the throughput figure is the one to compare.
 */
import { randomFillSync } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { ScrambledZipfian, Rng, ycsbKeyName } from './keys.js';
import type { PhaseName, UpdateMode } from './options.js';
import { cpuSince, cpuSnapshot, lmdbLastTxnId, type CpuUsage } from './proc.js';
import type { Target } from './targets.js';

export type OpType = 'insert' | 'read' | 'update';

export const CONTEXT_HEADER = 'x-dynakv-context';

/** Operation mix of a phase. */
interface PhaseSpec {
  name: PhaseName | 'warmup';
  title: string;
  readProportion: number;
}

export const PHASE_SPECS: Record<PhaseName, PhaseSpec> = {
  load: { name: 'load', title: 'load (100 % insert)', readProportion: 0 },
  a: { name: 'a', title: 'A (50 % read, 50 % update)', readProportion: 0.5 },
  b: { name: 'b', title: 'B (95 % read, 5 % update)', readProportion: 0.95 },
  c: { name: 'c', title: 'C (100 % read)', readProportion: 1 },
  w: { name: 'w', title: 'W (100 % update, not YCSB)', readProportion: 0 },
};

export interface OpStats {
  count: number;
  opsPerSec: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** HTTP statuses (and error codes for transport failures) of measured operations. */
  statuses: Record<string, number>;
  /** Measured operations that failed (anything but 200/300/404 for reads, 204 for writes). */
  errors: number;
  /** Mean response body bytes (reads: grows when siblings pile up). */
  meanBodyBytes: number;
  maxBodyBytes: number;
  /** HDR histogram of successful latencies in µs, compressed base64 (hdr-histogram-js encodeIntoCompressedBase64). */
  histogram: string;
}

export interface PhaseResult {
  phase: PhaseName;
  title: string;
  /** Length of the measured window, seconds. */
  seconds: number;
  /** Successful measured operations per second, all types. */
  opsPerSec: number;
  ops: number;
  errors: number;
  byOp: Partial<Record<OpType, OpStats>>;
  /** Why the phase ended: time, op cap, or (load) every record inserted. */
  stoppedBy: 'time' | 'max-ops' | 'done';
  cpu: CpuUsage;
  /** Event-loop utilization of the bench process during the window (near 1 = load generator saturated). */
  loadGeneratorElu: number;
  /**
   * Server CPU µs per successful op (all server processes, all threads), and the throughput the
   * machine's cores would allow if every core went to the servers and this load generator at these
   * per-op costs: a noise-robust projection for a shared machine, not a measurement (it ignores
   * waiting on fsync and on the network, so it is an upper bound).
   */
  serverCpuUsPerOp: number | null;
  cpuBoundCeilingOpsPerSec: number | null;
  /** LMDB write transactions committed by all nodes in the window (from their meta pages); null for bare or when unreadable. */
  lmdbCommits: number | null;
}

export interface RunConfig {
  clients: number;
  records: number;
  valueBytes: number;
  seconds: number;
  loadSeconds: number;
  warmup: number;
  maxOps: number;
  updateMode: UpdateMode;
  seed: number;
  requestTimeoutMs: number;
}

class OpRecorder {
  readonly hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  readonly statuses = new Map<string, number>();
  errors = 0;
  bodyBytes = 0;
  maxBodyBytes = 0;
  count = 0;

  record(us: number, status: string, ok: boolean, bodyBytes: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (!ok) {
      this.errors++;
      return;
    }
    this.count++;
    this.hist.recordValue(Math.max(1, Math.round(us)));
    this.bodyBytes += bodyBytes;
    if (bodyBytes > this.maxBodyBytes) this.maxBodyBytes = bodyBytes;
  }

  stats(seconds: number): OpStats {
    const h = this.hist;
    return {
      count: this.count,
      opsPerSec: seconds > 0 ? round(this.count / seconds) : 0,
      meanUs: round(h.mean),
      p50Us: h.getValueAtPercentile(50),
      p99Us: h.getValueAtPercentile(99),
      p999Us: h.getValueAtPercentile(99.9),
      maxUs: h.maxValue,
      statuses: Object.fromEntries([...this.statuses].sort()),
      errors: this.errors,
      meanBodyBytes: this.count > 0 ? round(this.bodyBytes / this.count) : 0,
      maxBodyBytes: this.maxBodyBytes,
      histogram: hdr.encodeIntoCompressedBase64(h),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

interface OpOutcome {
  status: string;
  ok: boolean;
  bytes: number;
  /** X-Dynakv-Context of the response, if any. */
  context?: string | undefined;
}

/** A connection-level failure, named by its code (UND_ERR_HEADERS_TIMEOUT, ECONNREFUSED, …). */
function failure(error: unknown): OpOutcome {
  const code = (error as { code?: unknown }).code;
  return { status: typeof code === 'string' ? code : 'error', ok: false, bytes: 0 };
}

/**
 * One target's clients and connections, reused across its phases so that
 * connection setup happens once, in the warm-up.
 */
export class LoadGenerator {
  private readonly pools: Pool[];
  private readonly keys: string[];
  private readonly values: Buffer[];
  /** Context last seen per record (update mode `context`). */
  private readonly contexts: Array<string | undefined>;
  private warmKeys = 0;

  constructor(
    private readonly target: Target,
    private readonly config: RunConfig,
  ) {
    const perOrigin = Math.ceil(config.clients / target.origins.length);
    this.pools = target.origins.map(
      (origin) =>
        new Pool(origin, {
          connections: perOrigin,
          pipelining: 1,
          keepAliveTimeout: 60_000,
          headersTimeout: config.requestTimeoutMs,
          bodyTimeout: config.requestTimeoutMs,
        }),
    );
    this.keys = Array.from({ length: config.records }, (_, i) => ycsbKeyName(i));
    // A few distinct random values, rotated: incompressible, and no allocation per request.
    this.values = Array.from({ length: 16 }, () => randomFillSync(Buffer.allocUnsafe(config.valueBytes)));
    this.contexts = new Array<string | undefined>(config.records);
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.destroy()));
  }

  /** Connections and JIT warm-up: inserts of fresh keys and reads of them, unmeasured, for `seconds`. */
  async warmup(seconds: number): Promise<void> {
    if (seconds <= 0) return;
    const deadline = performance.now() + seconds * 1000;
    const loops = Array.from({ length: this.config.clients }, async (_, c) => {
      const pool = this.pools[c % this.pools.length]!;
      const rng = new Rng(this.config.seed * 7919 + c + 1_000_000);
      while (performance.now() < deadline) {
        if (this.warmKeys > 0 && rng.nextDouble() < 0.5) {
          await this.get(pool, `warmup${rng.nextInt(this.warmKeys)}`);
        } else {
          await this.put(pool, `warmup${this.warmKeys++}`, this.values[c % this.values.length]!, undefined);
        }
        this.checkAlive();
      }
    });
    await Promise.all(loops);
  }

  /** Runs one phase; throws if a target process died. */
  async run(phase: PhaseName, warmupSeconds: number): Promise<PhaseResult> {
    const spec = PHASE_SPECS[phase];
    const isLoad = phase === 'load';
    const cfg = this.config;
    const recorders: Partial<Record<OpType, OpRecorder>> = {};
    const recorder = (op: OpType): OpRecorder => (recorders[op] ??= new OpRecorder());
    const pids = this.target.procs.map((p) => p.pid);
    const labels = new Map(this.target.procs.map((p) => [p.pid, p.label]));

    const t0 = performance.now();
    let measureStart = isLoad ? t0 : t0 + warmupSeconds * 1000;
    let measureEnd = 0;
    let stopped = false;
    let stoppedBy: PhaseResult['stoppedBy'] = 'time';
    let measured = 0;
    let nextInsert = 0;
    let inflightInserts = 0;
    const lmdbFiles = this.target.procs.map((p) => p.lmdbFile).filter((f) => f !== undefined);
    const txnIds = (): number | null => {
      if (lmdbFiles.length === 0) return null;
      let sum = 0;
      for (const f of lmdbFiles) {
        const id = lmdbLastTxnId(f);
        if (id === undefined) return null;
        sum += id;
      }
      return sum;
    };
    let cpuStart = cpuSnapshot(pids);
    let txnStart = txnIds();
    let eluStart = performance.eventLoopUtilization();
    const stop = (why: PhaseResult['stoppedBy']): void => {
      if (stopped) return;
      stopped = true;
      stoppedBy = why;
      measureEnd = performance.now();
    };
    const windowSeconds = isLoad ? cfg.loadSeconds : cfg.seconds;
    // The measured window opens after the warm-up: CPU and ELU are sampled then.
    const opener = isLoad
      ? undefined
      : setTimeout(() => {
          measureStart = performance.now();
          cpuStart = cpuSnapshot(pids);
          txnStart = txnIds();
          eluStart = performance.eventLoopUtilization();
        }, warmupSeconds * 1000);
    const timer = setTimeout(() => stop('time'), warmupSeconds * 1000 * (isLoad ? 0 : 1) + windowSeconds * 1000);

    const loops = Array.from({ length: cfg.clients }, async (_, c) => {
      const pool = this.pools[c % this.pools.length]!;
      const rng = new Rng(cfg.seed * 7919 + c + hashPhase(phase));
      const zipf = new ScrambledZipfian(cfg.records, rng);
      const value = (): Buffer => this.values[rng.nextInt(this.values.length)]!;
      while (!stopped) {
        let op: OpType;
        let index: number;
        if (isLoad) {
          if (nextInsert >= cfg.records) break;
          op = 'insert';
          index = nextInsert++;
          inflightInserts++;
        } else {
          op = spec.readProportion >= 1 || rng.nextDouble() < spec.readProportion ? 'read' : 'update';
          index = zipf.next();
        }
        const key = this.keys[index]!;
        const start = performance.now();
        let outcome: OpOutcome;
        if (op === 'read') {
          outcome = await this.get(pool, key, index);
        } else if (op === 'insert' || cfg.updateMode === 'blind') {
          outcome = await this.put(pool, key, value(), op === 'insert' ? index : undefined);
        } else if (cfg.updateMode === 'context') {
          outcome = await this.put(pool, key, value(), index, this.contexts[index]);
        } else {
          const read = await this.get(pool, key, index);
          outcome = read.ok ? await this.put(pool, key, value(), index, read.context) : read;
        }
        const end = performance.now();
        if (isLoad) {
          inflightInserts--;
          if (nextInsert >= cfg.records && inflightInserts === 0) stop('done');
        }
        if (start >= measureStart && (!stopped || end <= measureEnd)) {
          recorder(op).record((end - start) * 1000, outcome.status, outcome.ok, outcome.bytes);
          if (outcome.ok && ++measured >= cfg.maxOps) stop('max-ops');
        }
        this.checkAlive();
      }
    });
    try {
      await Promise.all(loops);
    } finally {
      clearTimeout(timer);
      if (opener !== undefined) clearTimeout(opener);
    }
    if (!stopped) stop('done');
    const cpu = cpuSince(cpuStart, labels);
    const txnEnd = txnIds();
    const lmdbCommits = txnStart === null || txnEnd === null ? null : txnEnd - txnStart;
    const elu = performance.eventLoopUtilization(eluStart).utilization;
    const seconds = (measureEnd - measureStart) / 1000;
    const byOp: Partial<Record<OpType, OpStats>> = {};
    let ops = 0;
    let errors = 0;
    for (const op of ['insert', 'read', 'update'] as const) {
      const r = recorders[op];
      if (r === undefined) continue;
      byOp[op] = r.stats(seconds);
      ops += r.count;
      errors += r.errors;
    }
    const serverCpu = Object.values(cpu.processes);
    const serverKnown = serverCpu.length > 0 && serverCpu.every((v) => v !== null);
    const serverSeconds = serverCpu.reduce<number>((a, v) => a + (v ?? 0), 0);
    const serverCpuUsPerOp = serverKnown && ops > 0 ? Math.round((serverSeconds * 1e6) / ops) : null;
    const cpuBoundCeilingOpsPerSec =
      serverKnown && cpu.loadGenerator !== null && ops > 0 ? Math.round((cpus().length * ops) / (serverSeconds + cpu.loadGenerator)) : null;
    return {
      phase,
      title: spec.title,
      seconds: Math.round(seconds * 1000) / 1000,
      opsPerSec: seconds > 0 ? round(ops / seconds) : 0,
      ops,
      errors,
      byOp,
      stoppedBy,
      cpu,
      loadGeneratorElu: Math.round(elu * 1000) / 1000,
      serverCpuUsPerOp,
      cpuBoundCeilingOpsPerSec,
      lmdbCommits,
    };
  }

  private checkAlive(): void {
    for (const p of this.target.procs) {
      if (p.exited && !p.stopping) throw new TargetDied(p.label);
    }
  }

  private async get(pool: Pool, key: string, index?: number): Promise<OpOutcome> {
    try {
      const res = await pool.request({ method: 'GET', path: `/v1/kv/${key}` });
      const bytes = await bodyBytes(res.body);
      const status = res.statusCode;
      const ok = status === 200 || status === 300 || status === 404;
      const header = res.headers[CONTEXT_HEADER];
      const context = typeof header === 'string' ? header : undefined;
      if (index !== undefined && ok && context !== undefined) this.contexts[index] = context;
      return { status: String(status), ok, bytes, context };
    } catch (error) {
      return failure(error);
    }
  }

  private async put(pool: Pool, key: string, value: Buffer, index: number | undefined, context?: string): Promise<OpOutcome> {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (context !== undefined) headers[CONTEXT_HEADER] = context;
      const res = await pool.request({ method: 'PUT', path: `/v1/kv/${key}`, headers, body: value });
      const bytes = await bodyBytes(res.body);
      const status = res.statusCode;
      if (index !== undefined && status === 204) {
        const ctx = res.headers[CONTEXT_HEADER];
        if (typeof ctx === 'string') this.contexts[index] = ctx;
      }
      return { status: String(status), ok: status === 204 || status === 200, bytes };
    } catch (error) {
      return failure(error);
    }
  }
}

export class TargetDied extends Error {
  override name = 'TargetDied';
  constructor(readonly label: string) {
    super(`${label} exited during the run`);
  }
}

/**
 * Reads a reply body to its end and counts its bytes, with plain listeners:
 * `for await` over the stream cost the load generator measurably more CPU per
 * request, CPU the servers under test share on this machine.
 */
function bodyBytes(body: NodeJS.ReadableStream): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    body.on('end', () => resolve(bytes));
    body.on('error', reject);
  });
}

function hashPhase(phase: string): number {
  let h = 0;
  for (let i = 0; i < phase.length; i++) h = (h * 31 + phase.charCodeAt(i)) >>> 0;
  return h;
}
