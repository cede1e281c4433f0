/**
 * Pure argument parsing for the `dynakv` command: no I/O, no process state, so
 * every rule here is unit-tested directly (test/unit/cli-args.test.ts).
 */
import { Command, CommanderError } from 'commander';
import { LIMITS } from '../core/limits.js';
import { NODE_DEFAULTS, type NodeOptions } from '../node/options.js';

/** A bad flag or argument: printed as-is, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Env = Readonly<Record<string, string | undefined>>;
/** What commander hands an action: camelCased option names to raw values. */
export type RawFlags = Readonly<Record<string, string | boolean | string[] | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One `dynakv start` flag: its spelling, its env var, how to validate it. */
export interface StartFlag {
  /** Long flag without dashes, e.g. "hinted-handoff". */
  name: string;
  /** Placeholder shown in --help; undefined for a boolean switch. */
  value: string | undefined;
  description: string;
  required: boolean;
}

export const START_FLAGS: readonly StartFlag[] = [
  { name: 'id', value: 'id', description: 'node id, stable across restarts (e.g. n1)', required: true },
  { name: 'api', value: 'host:port', description: 'public API listen address', required: true },
  { name: 'peer', value: 'host:port', description: 'internode listen address', required: true },
  { name: 'seeds', value: 'host:port,…', description: 'peer addresses to bootstrap from (default: own --peer)', required: false },
  { name: 'data', value: 'dir', description: 'data directory (created if missing)', required: true },
  { name: 'replicas', value: 'n', description: `replication factor N (default ${NODE_DEFAULTS.replicas})`, required: false },
  { name: 'partitions', value: 'q', description: `ring size Q, a power of two (default ${NODE_DEFAULTS.partitions})`, required: false },
  { name: 'zone', value: 'zone', description: 'availability zone, spread across by preference lists', required: false },
  { name: 'sync', value: 'fsync|none', description: `durable commits or OS-timed writes (default ${NODE_DEFAULTS.sync})`, required: false },
  { name: 'hinted-handoff', value: 'on|off', description: 'sloppy quorum with hinted handoff (default on)', required: false },
  { name: 'anti-entropy', value: 'on|off', description: 'Merkle-tree anti-entropy (default on)', required: false },
  { name: 'max-value-bytes', value: 'n', description: `largest accepted value (default ${NODE_DEFAULTS.maxValueBytes})`, required: false },
  { name: 'tombstone-grace', value: 'duration', description: 'ms, or e.g. 1h, 30m, 10s, 1h30m (default 1h)', required: false },
  { name: 'fault-injection', value: undefined, description: 'enable the partition/heal fault hook (local test clusters only)', required: false },
  { name: 'log-level', value: 'level', description: `${LOG_LEVELS.join('|')} (default ${NODE_DEFAULTS.logLevel})`, required: false },
];

/** "hinted-handoff" → "DYNAKV_HINTED_HANDOFF". */
export function envName(flag: string): string {
  return `DYNAKV_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** "hinted-handoff" → "hintedHandoff", the key commander uses. */
export function camelName(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Merges command-line flags over DYNAKV_* env vars, validates, and fills
 * defaults. Flags win over env; an empty env var counts as unset.
 */
export function resolveStartOptions(flags: RawFlags, env: Env): NodeOptions {
  const raw = (name: string): string | boolean | undefined => {
    const fromFlag = flags[camelName(name)];
    if (fromFlag !== undefined) return Array.isArray(fromFlag) ? fromFlag.join(',') : fromFlag;
    const fromEnv = env[envName(name)];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const str = (name: string): string | undefined => {
    const v = raw(name);
    return typeof v === 'boolean' ? String(v) : v;
  };
  const missing = START_FLAGS.filter((f) => f.required && str(f.name) === undefined);
  if (missing.length > 0) {
    const list = missing.map((f) => `--${f.name} (or ${envName(f.name)})`).join(', ');
    throw new UsageError(`missing required option${missing.length > 1 ? 's' : ''}: ${list}`);
  }
  const peer = parseHostPort('peer', str('peer')!);
  const seedsRaw = str('seeds');
  return {
    id: parseNodeId(str('id')!),
    api: parseHostPort('api', str('api')!),
    peer,
    seeds: seedsRaw === undefined ? [peer] : parseSeeds(seedsRaw),
    data: parseNonEmpty('data', str('data')!),
    replicas: optional(str('replicas'), NODE_DEFAULTS.replicas, (v) => parseIntIn('replicas', v, 1, LIMITS.replicasMax)),
    partitions: optional(str('partitions'), NODE_DEFAULTS.partitions, parsePartitions),
    zone: optional(str('zone'), undefined, (v) => parseNonEmpty('zone', v)),
    sync: optional(str('sync'), NODE_DEFAULTS.sync, (v) => parseChoice('sync', v, ['fsync', 'none'] as const)),
    hintedHandoff: optional(str('hinted-handoff'), NODE_DEFAULTS.hintedHandoff, (v) => parseOnOff('hinted-handoff', v)),
    antiEntropy: optional(str('anti-entropy'), NODE_DEFAULTS.antiEntropy, (v) => parseOnOff('anti-entropy', v)),
    maxValueBytes: optional(str('max-value-bytes'), NODE_DEFAULTS.maxValueBytes, (v) =>
      parseIntIn('max-value-bytes', v, 1, LIMITS.peerBodyBytesMax),
    ),
    tombstoneGraceMs: optional(str('tombstone-grace'), NODE_DEFAULTS.tombstoneGraceMs, (v) =>
      parseDuration('tombstone-grace', v),
    ),
    faultInjection: optional(str('fault-injection'), NODE_DEFAULTS.faultInjection, (v) => parseOnOff('fault-injection', v)),
    logLevel: optional(str('log-level'), NODE_DEFAULTS.logLevel, (v) => parseChoice('log-level', v, LOG_LEVELS)),
  };
}

function optional<T, D>(value: string | undefined, fallback: D, parse: (v: string) => T): T | D {
  return value === undefined ? fallback : parse(value);
}

export function parseNodeId(value: string): string {
  // Ids end up in version vectors, file names and URLs: keep them plain.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)) {
    throw new UsageError(`--id: "${value}" is not a valid node id (letters, digits, _ . -, at most 64)`);
  }
  return value;
}

/** host:port with a port in 1..65535; IPv6 hosts in brackets ([::1]:7001). */
export function parseHostPort(flag: string, value: string): string {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(`--${flag}: "${value}" is not host:port (e.g. 127.0.0.1:7001)`);
  }
  return `${m[1]}:${port}`;
}

export function parseSeeds(value: string): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UsageError('--seeds: expected at least one host:port');
  return [...new Set(parts.map((s) => parseHostPort('seeds', s)))];
}

function parseNonEmpty(flag: string, value: string): string {
  if (value.trim() === '') throw new UsageError(`--${flag}: must not be empty`);
  return value;
}

export function parseIntIn(flag: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag}: "${value}" is not an integer in ${min}..${max}`);
  }
  return n;
}

function parsePartitions(value: string): number {
  const n = parseIntIn('partitions', value, LIMITS.partitionsMin, LIMITS.partitionsMax);
  if ((n & (n - 1)) !== 0) throw new UsageError(`--partitions: ${n} is not a power of two`);
  return n;
}

export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  const v = value.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${flag}: "${value}" is not one of ${choices.join('|')}`);
  }
  return v as T;
}

/** on|off, plus the spellings env vars commonly use (true/false, 1/0, yes/no). */
export function parseOnOff(flag: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  throw new UsageError(`--${flag}: "${value}" is not on|off`);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Plain integer = milliseconds; otherwise unit terms such as 1h, 30m, 10s, 1h30m, 500ms. */
export function parseDuration(flag: string, value: string): number {
  const v = value.trim().toLowerCase();
  if (/^\d+$/.test(v)) return parseIntIn(flag, v, 0, Number.MAX_SAFE_INTEGER);
  if (!/^(\d+(ms|s|m|h|d))+$/.test(v)) {
    throw new UsageError(`--${flag}: "${value}" is not a duration (ms, or e.g. 1h, 30m, 10s)`);
  }
  let total = 0;
  for (const [, n, unit] of v.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(n) * UNIT_MS[unit!]!;
  if (!Number.isSafeInteger(total)) throw new UsageError(`--${flag}: "${value}" is too large`);
  return total;
}

/** Flags the cluster manager sets itself; passing them through `cluster up --` would break the layout. */
export const MANAGED_FLAGS = ['id', 'api', 'peer', 'seeds', 'data', 'fault-injection'] as const;

/** Declares every START_FLAGS entry on `cmd` (values stay raw strings; resolveStartOptions validates). */
export function addStartOptions(cmd: Command): Command {
  for (const f of START_FLAGS) {
    cmd.option(f.value === undefined ? `--${f.name}` : `--${f.name} <${f.value}>`, f.description);
  }
  return cmd;
}

/** `dynakv start` argv (after "start") plus env → validated options. Throws UsageError. */
export function parseStartArgv(argv: readonly string[], env: Env): NodeOptions {
  const cmd = addStartOptions(new Command('start'))
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(err.message.replace(/^error: /, ''));
    throw err;
  }
  return resolveStartOptions(cmd.opts(), env);
}

/**
 * Checks the extra flags of `cluster up -- …` by parsing them the way a node
 * would, so a typo fails before any process starts. Returns them unchanged.
 */
export function validateNodeFlags(extra: readonly string[]): string[] {
  for (const arg of extra) {
    const name = /^--([a-z-]+)/.exec(arg)?.[1];
    if (name && (MANAGED_FLAGS as readonly string[]).includes(name)) {
      throw new UsageError(`--${name} is set by the cluster manager for each node; remove it`);
    }
  }
  const probe = ['--id', 'n1', '--api', '127.0.0.1:1', '--peer', '127.0.0.1:2', '--data', 'x'];
  parseStartArgv([...probe, ...extra], {});
  return [...extra];
}

/** Ports and addresses of node i (1-based) in a local cluster with API base port `base`. */
export interface NodeLayout {
  id: string;
  index: number;
  api: string;
  peer: string;
}

export const DEFAULT_BASE_PORT = 7000;
/** Node i listens on base+i and base+100+i, so indexes must stay below 100. */
export const MAX_CLUSTER_NODES = 99;

export function nodeLayout(index: number, base: number): NodeLayout {
  if (!Number.isInteger(index) || index < 1 || index > MAX_CLUSTER_NODES) {
    throw new UsageError(`node index ${index} is outside 1..${MAX_CLUSTER_NODES}`);
  }
  return { id: `n${index}`, index, api: `127.0.0.1:${base + index}`, peer: `127.0.0.1:${base + 100 + index}` };
}

/** DYNAKV_CLUSTER_BASE_PORT, default 7000; the highest peer port (base+199) must be a valid port. */
export function clusterBasePort(env: Env): number {
  const v = env.DYNAKV_CLUSTER_BASE_PORT;
  if (v === undefined || v === '') return DEFAULT_BASE_PORT;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535 - 200) {
    throw new UsageError(`DYNAKV_CLUSTER_BASE_PORT: "${v}" is not a port in 1..${65535 - 200}`);
  }
  return n;
}

/**
 * `cluster partition n1,n2 n3`: each group is cut off from every other group.
 * One group alone is cut off from all other nodes. Nodes in no group keep
 * talking to everyone. Returns, per node id, the ids it must block.
 */
export function partitionPlan(groupArgs: readonly string[], allIds: readonly string[]): Map<string, string[]> {
  const groups = groupArgs.map((g) => g.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (groups.length === 0 || groups.some((g) => g.length === 0)) {
    throw new UsageError('partition: expected groups of node ids, e.g. `partition n1,n2 n3`');
  }
  const seen = new Set<string>();
  for (const id of groups.flat()) {
    if (!allIds.includes(id)) throw new UsageError(`partition: unknown node ${id} (known: ${allIds.join(', ')})`);
    if (seen.has(id)) throw new UsageError(`partition: ${id} appears in more than one group`);
    seen.add(id);
  }
  if (groups.length === 1) groups.push(allIds.filter((id) => !seen.has(id)));
  const plan = new Map<string, string[]>(allIds.map((id) => [id, []]));
  for (const group of groups) {
    const others = groups.filter((g) => g !== group).flat();
    for (const id of group) plan.set(id, others);
  }
  return plan;
}

/** --r/--w/--pr/--pw: one|quorum|all or an integer; the node checks it against N. */
export function parseQuorum(flag: string, value: string): string {
  const v = value.trim().toLowerCase();
  if (['one', 'quorum', 'all'].includes(v)) return v;
  if (/^\d+$/.test(v) && Number(v) <= LIMITS.replicasMax) return String(Number(v));
  throw new UsageError(`--${flag}: "${value}" is not one|quorum|all or 0..${LIMITS.replicasMax}`);
}
