/** Command-line options of `npm run bench -- …`. */
import { parseArgs } from 'node:util';

export const PHASES = ['load', 'a', 'b', 'c', 'w'] as const;
export type PhaseName = (typeof PHASES)[number];
export const TARGET_KINDS = ['cluster', 'single', 'bare'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const UPDATE_MODES = ['blind', 'context', 'rmw'] as const;
export type UpdateMode = (typeof UPDATE_MODES)[number];
export type SyncChoice = 'fsync' | 'none' | 'both';

export interface BenchOptions {
  /** Measured seconds of each run phase (a, b, c, w). */
  seconds: number;
  /** Time cap of the load phase (it also stops once every record is inserted). */
  loadSeconds: number;
  /** Unmeasured seconds at the start of each run phase (a, b, c, w). */
  warmup: number;
  /** Unmeasured seconds of traffic right after a target starts, before the load phase (JIT, connections). */
  initialWarmup: number;
  /** Cap on measured operations per phase. */
  maxOps: number;
  records: number;
  valueBytes: number;
  clients: number;
  /** Nodes of the cluster target. */
  nodes: number;
  /** Replicas of the cluster target (N); reads and writes use r = w = quorum. */
  replicas: number;
  targets: TargetKind[];
  phases: PhaseName[];
  sync: SyncChoice;
  updateMode: UpdateMode;
  cpuProf: boolean;
  cpuProfDir: string | undefined;
  outDir: string;
  /** Keep node data and logs instead of deleting them. */
  keep: boolean;
  seed: number;
  /** Before each target, wait up to this many seconds for the machine to be quiet (other work < quietCores). */
  waitQuiet: number;
  quietCores: number;
  /** Per-request timeout of the load generator, ms. */
  requestTimeoutMs: number;
}

export const USAGE = `Usage: npm run bench -- [options]

YCSB-style workloads (zipfian keys, constant 0.99, YCSB's scrambled zipfian) against
a local dynakv cluster (N=3, r=w=quorum=2), a single node (N=1), and a bare fastify
endpoint (the HTTP ceiling of this machine). Results: a table on stdout and JSON in
bench-results/<timestamp>.json. Benchmarks are not tests: exit 1 only on errors.

  --seconds S         measured seconds per run phase (default 10)
  --load-seconds S    time cap of the load phase (default 20)
  --initial-warmup S  unmeasured traffic after a target starts, before load (default 6;
                      V8 keeps optimizing for ~10 s after start, which costs CPU per op)
  --warmup S          unmeasured warm-up at the start of each run phase (default 2)
  --max-ops N         cap on measured operations per phase (default 2000000)
  --records N         record count (default 10000)
  --value-bytes N     value size (default 1024)
  --clients N         concurrent client loops (default 32)
  --nodes N           nodes of the cluster target (default 3)
  --replicas N        N of the cluster target (default 3)
  --targets LIST      cluster,single,bare (default all three)
  --phases LIST       load,a,b,c[,w] (default load,a,b,c; w = 100 % updates, not YCSB)
  --sync MODE         fsync (default) | none | both (cluster and single in both modes)
  --update MODE       context (default: PUT with the context last seen for the key, no
                      extra read) | blind (PUT without context: every update of a hot
                      key adds a sibling) | rmw (GET, then PUT with its context; the
                      latency of the pair is the update's)
  --rmw               same as --update rmw
  --cpu-prof          start nodes with node --cpu-prof; prints where the profiles are
  --cpu-prof-dir DIR  where (default bench-results/cpuprof-<timestamp>)
  --out DIR           results folder (default bench-results)
  --keep              keep node data directories and logs
  --seed N            PRNG seed (default 1)
  --wait-quiet S      before each target wait up to S s until other processes use less
                      than --quiet-cores (default 0.3) cores: for shared machines (default 0)
  --timeout MS        per-request timeout (default 30000)
  -h, --help
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      seconds: { type: 'string' },
      'load-seconds': { type: 'string' },
      warmup: { type: 'string' },
      'initial-warmup': { type: 'string' },
      'max-ops': { type: 'string' },
      records: { type: 'string' },
      'value-bytes': { type: 'string' },
      clients: { type: 'string' },
      nodes: { type: 'string' },
      replicas: { type: 'string' },
      targets: { type: 'string' },
      phases: { type: 'string' },
      sync: { type: 'string' },
      update: { type: 'string' },
      rmw: { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      'cpu-prof-dir': { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      seed: { type: 'string' },
      timeout: { type: 'string' },
      'wait-quiet': { type: 'string' },
      'quiet-cores': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number, integer = true): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name}: "${raw}" is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
    }
    return n;
  };
  const list = <T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T[]): T[] => {
    if (raw === undefined) return fallback;
    const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`--${name}: "${item}" is not one of ${allowed.join(', ')}`);
    }
    if (items.length === 0) throw new UsageError(`--${name}: empty list`);
    return [...new Set(items)] as T[];
  };
  const choice = <T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T => {
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`--${name}: "${raw}" is not one of ${allowed.join(', ')}`);
    return raw as T;
  };
  if (values.rmw && values.update !== undefined && values.update !== 'rmw') throw new UsageError('--rmw contradicts --update');
  const nodes = num('nodes', values.nodes, 3, 1, 9);
  const replicas = num('replicas', values.replicas, Math.min(3, nodes), 1, 9);
  if (replicas > nodes) throw new UsageError(`--replicas ${replicas} exceeds --nodes ${nodes}`);
  // Keep the phase order canonical whatever order the list was given in.
  const phases = list('phases', values.phases, PHASES, ['load', 'a', 'b', 'c']);
  return {
    seconds: num('seconds', values.seconds, 10, 0.5, 3600, false),
    loadSeconds: num('load-seconds', values['load-seconds'], 20, 0.5, 3600, false),
    warmup: num('warmup', values.warmup, 2, 0, 600, false),
    initialWarmup: num('initial-warmup', values['initial-warmup'], 6, 0, 600, false),
    maxOps: num('max-ops', values['max-ops'], 2_000_000, 1, 1e9),
    records: num('records', values.records, 10_000, 1, (1 << 21) - 1),
    valueBytes: num('value-bytes', values['value-bytes'], 1024, 0, 1024 * 1024),
    clients: num('clients', values.clients, 32, 1, 4096),
    nodes,
    replicas,
    targets: list('targets', values.targets, TARGET_KINDS, [...TARGET_KINDS]),
    phases: PHASES.filter((p) => phases.includes(p)),
    sync: choice<SyncChoice>('sync', values.sync, ['fsync', 'none', 'both'], 'fsync'),
    updateMode: values.rmw ? 'rmw' : choice('update', values.update, UPDATE_MODES, 'context'),
    cpuProf: values['cpu-prof'] === true || values['cpu-prof-dir'] !== undefined,
    cpuProfDir: values['cpu-prof-dir'],
    outDir: values.out ?? 'bench-results',
    keep: values.keep === true,
    seed: num('seed', values.seed, 1, 0, 2 ** 32 - 1),
    requestTimeoutMs: num('timeout', values.timeout, 30_000, 1, 600_000),
    waitQuiet: num('wait-quiet', values['wait-quiet'], 0, 0, 3600, false),
    quietCores: num('quiet-cores', values['quiet-cores'], 0.3, 0, 64, false),
  };
}
