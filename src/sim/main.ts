import { parseArgs } from 'node:util';
import { CHANGE_MODES, type ChangeMode } from './changes.js';
import { formatFailure, formatResult, runSimulation, SIM_DEFAULTS, type SimOptions, type SimResult } from './simulation.js';

/**
 * `npm run sim -- --seed S` runs one seed and prints one line ending in `ok`,
 * or `FAILED seed=S: …` with the command that replays it (exit 1).
 * `--seeds K [--from F]` runs seeds F..F+K-1 (default F=1) and prints a summary.
 */

const USAGE = `usage: npm run sim -- [--seed S | --seeds K [--from F]] [options]
  --nodes S        nodes in the cluster (default ${SIM_DEFAULTS.nodes})
  --replicas N     replication factor (default ${SIM_DEFAULTS.replicas})
  --partitions Q   ring size, a power of two (default ${SIM_DEFAULTS.partitions})
  --clients K      concurrent clients (default ${SIM_DEFAULTS.clients})
  --keys K         cart keys (default ${SIM_DEFAULTS.keys})
  --steps N        client iterations (read + add) per round (default ${SIM_DEFAULTS.steps})
  --rounds R       safety+liveness rounds (default ${SIM_DEFAULTS.rounds})
  --r R --w W      workload quorums (default: majority of N)
  --skew-max-ms M  largest clock skew the nemesis sets (default ${SIM_DEFAULTS.skewMsMax})
  --no-faults      run without the nemesis
  --changes        ring changes in every round: a node joins and/or a member
                   leaves mid-workload, faults running (default: none)
  --change-kind K  with --changes: join, leave, both or mixed (default mixed:
                   drawn per round), or remove (a member's machine is lost
                   for good and it is force-removed)
  --trace-log      print every trace line to stderr
  --verbose        print the last trace lines of a failed seed`;

const TRACE_TAIL_LINES = 60;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      from: { type: 'string' },
      nodes: { type: 'string' },
      replicas: { type: 'string' },
      partitions: { type: 'string' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      steps: { type: 'string' },
      rounds: { type: 'string' },
      r: { type: 'string' },
      w: { type: 'string' },
      'skew-max-ms': { type: 'string' },
      'no-faults': { type: 'boolean', default: false },
      changes: { type: 'boolean', default: false },
      'change-kind': { type: 'string' },
      'trace-log': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const base: Partial<SimOptions> = { faults: !values['no-faults'] };
  const ints: Array<[keyof SimOptions, string]> = [
    ['nodes', 'nodes'],
    ['replicas', 'replicas'],
    ['partitions', 'partitions'],
    ['clients', 'clients'],
    ['keys', 'keys'],
    ['steps', 'steps'],
    ['rounds', 'rounds'],
    ['r', 'r'],
    ['w', 'w'],
    ['skewMsMax', 'skew-max-ms'],
  ];
  for (const [name, flag] of ints) {
    const text = (values as Record<string, unknown>)[flag];
    if (typeof text === 'string') (base as Record<string, number>)[name] = integer(text, `--${flag}`);
  }
  const kind = values['change-kind'];
  if (kind !== undefined && !(CHANGE_MODES as readonly string[]).includes(kind)) {
    console.error(`--change-kind expects one of ${CHANGE_MODES.join(', ')}, got ${JSON.stringify(kind)}\n${USAGE}`);
    return 2;
  }
  if (kind !== undefined && !values.changes) {
    console.error(`--change-kind needs --changes\n${USAGE}`);
    return 2;
  }
  if (values.changes) base.changes = (kind as ChangeMode | undefined) ?? 'mixed';
  if (values['trace-log']) base.traceSink = (line) => process.stderr.write(`${line}\n`);

  const unhandled: string[] = [];
  process.on('unhandledRejection', (reason) => unhandled.push(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
  const runOne = async (seed: number): Promise<SimResult> => {
    const result = await runSimulation({ ...base, seed });
    if (unhandled.length > 0) {
      result.failures.push(...unhandled.splice(0));
      result.ok = false;
    }
    return result;
  };
  const nodes = base.nodes ?? SIM_DEFAULTS.nodes;

  if (values.seeds === undefined) {
    const seed = values.seed === undefined ? 1 : integer(values.seed, '--seed');
    const result = await runOne(seed);
    console.log(formatResult(result, nodes));
    if (result.ok) return 0;
    report(result, values.verbose);
    return 1;
  }

  const count = integer(values.seeds, '--seeds');
  const from = values.from === undefined ? 1 : integer(values.from, '--from');
  const failed: number[] = [];
  // Wall clock for the throughput summary only: it never reaches a simulated run.
  const startedMs = performance.now();
  let ops = 0;
  let acked = 0;
  for (let seed = from; seed < from + count; seed++) {
    const result = await runOne(seed);
    ops += result.ops;
    acked += result.acked;
    console.log(formatResult(result, nodes));
    if (!result.ok) {
      failed.push(seed);
      report(result, values.verbose);
    }
  }
  const seconds = (performance.now() - startedMs) / 1000;
  console.log(
    `seeds=${count} from=${from} passed=${count - failed.length} failed=${failed.length}${failed.length > 0 ? ` [${failed.join(',')}]` : ''} ` +
      `ops=${ops} acked=${acked} elapsed=${seconds.toFixed(1)}s seeds/s=${(count / seconds).toFixed(2)}`,
  );
  return failed.length === 0 ? 0 : 1;
}

/** The command line without the seed selection: what a replay of one seed must repeat. */
function replayFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.split('=', 1)[0]!;
    if (name === '--seed' || name === '--seeds' || name === '--from') {
      if (!arg.includes('=')) i++; // skip its value
      continue;
    }
    out.push(arg);
  }
  return out;
}

function report(result: SimResult, verbose: boolean): void {
  console.log(formatFailure(result, replayFlags(process.argv.slice(2))));
  if (verbose) {
    console.log(`last ${TRACE_TAIL_LINES} trace lines:`);
    for (const line of result.recentTrace.slice(-TRACE_TAIL_LINES)) console.log(`  ${line}`);
  }
}

function integer(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`${name} expects a non-negative integer, got ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(2);
  },
);
