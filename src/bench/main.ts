/**
 * `npm run bench`: YCSB-style workloads against a local dynakv cluster, a
 * single node and a bare fastify endpoint, in one run (DESIGN §10). Prints a
 * table, writes bench-results/<timestamp>.json. Exit code 1 only on errors
 * (a target that does not start or dies, a phase without one successful
 * operation, bad flags); never on thresholds.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { probeFsync, type FsyncProbe } from './disk.js';
import { machineBusyCores } from './proc.js';
import { parseOptions, USAGE, type BenchOptions, type PhaseName } from './options.js';
import { buildJson, machineInfo, renderTarget, renderVerdicts, RESOURCES_LEGEND, verdicts, warnings, type TargetResult } from './report.js';
import { LoadGenerator, PHASE_SPECS, TargetDied } from './runner.js';
import { crashReport, killAllNow, liveProcs, startTarget, stopProc, stopTarget, type Target, type TargetSpec } from './targets.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

function targetSpecs(o: BenchOptions): TargetSpec[] {
  const syncs: Array<'fsync' | 'none'> = o.sync === 'both' ? ['fsync', 'none'] : [o.sync];
  const specs: TargetSpec[] = [];
  for (const kind of o.targets) {
    if (kind === 'bare') {
      specs.push({ name: 'bare', kind, nodes: 1, replicas: 0, sync: null });
      continue;
    }
    for (const sync of syncs) {
      const suffix = o.sync === 'both' && sync === 'none' ? '-nosync' : o.sync === 'none' ? '-nosync' : '';
      if (kind === 'cluster') specs.push({ name: `cluster${suffix}`, kind, nodes: o.nodes, replicas: o.replicas, sync });
      else specs.push({ name: `single${suffix}`, kind, nodes: 1, replicas: 1, sync });
    }
  }
  return specs;
}

function describe(spec: TargetSpec): string {
  if (spec.kind === 'bare') return 'bare fastify in one process (GET → 1 KiB buffer, PUT → 204): the HTTP ceiling';
  const q = Math.floor(spec.replicas / 2) + 1;
  const nodes = spec.nodes === 1 ? '1 node' : `${spec.nodes} nodes`;
  return `${nodes}, N=${spec.replicas}, r=w=${q}, --sync ${spec.sync}`;
}

function fsName(dir: string): string {
  try {
    const type = statfsSync(dir).type;
    const known: Record<number, string> = { 0xef53: 'ext2/3/4', 0x01021994: 'tmpfs', 0x9123683e: 'btrfs', 0x58465342: 'xfs', 0x794c7630: 'overlayfs', 0x2fc12fc1: 'zfs' };
    return known[type] ?? `0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

function updateNote(o: BenchOptions): string {
  switch (o.updateMode) {
    case 'blind':
      return (
        'update = PUT without context (blind write, YCSB-like). On an existing key each blind write adds a concurrent ' +
        'sibling (DESIGN §4): hot zipfian keys pile up siblings to the limit (100), later updates of them get 409 ' +
        'too_many_siblings and reads of them 300 with every sibling (see the notes column). ' +
        'Use --update context (overwrite with the last seen context) or --rmw for overwrite semantics.'
      );
    case 'context':
      return 'update = PUT with the X-Dynakv-Context last seen for that key (from its insert, or the latest read/write of it); no extra read.';
    case 'rmw':
      return 'update = GET then PUT with the GET\'s context (read-modify-write); its latency is the pair\'s.';
  }
}

/** Polls the machine's busy cores (other than the bench) until below `cores`, for at most `seconds`. */
async function waitQuiet(name: string, seconds: number, cores: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const busy = await machineBusyCores(2000);
    if (busy === undefined || busy < cores) {
      if (busy !== undefined) say(`[${name}] machine quiet enough: other work ${busy.toFixed(2)} cores`);
      return;
    }
    if (Date.now() >= deadline) {
      say(`[${name}] machine still busy (other work ${busy.toFixed(2)} cores) after ${seconds} s; running anyway`);
      return;
    }
    say(`[${name}] waiting for a quieter machine: other work ${busy.toFixed(2)} cores`);
  }
}

function findProfiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.cpuprofile')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

async function runTarget(spec: TargetSpec, o: BenchOptions, baseDir: string, cpuProfDir: string | undefined): Promise<TargetResult> {
  const result: TargetResult = { spec, description: describe(spec), phases: [] };
  say(`\n[${spec.name}] starting: ${result.description}`);
  if (o.waitQuiet > 0) await waitQuiet(spec.name, o.waitQuiet, o.quietCores);
  let target: Target;
  try {
    target = await startTarget(spec, { baseDir, cpuProfDir, valueBytes: o.valueBytes });
  } catch (error) {
    result.error = `did not start: ${(error as Error).message}`;
    return result;
  }
  say(`[${spec.name}] up: ${target.procs.map((p) => `${p.label} pid ${p.pid} http://${p.api}`).join(', ')}`);
  const gen = new LoadGenerator(target, {
    clients: o.clients,
    records: o.records,
    valueBytes: o.valueBytes,
    seconds: o.seconds,
    loadSeconds: o.loadSeconds,
    warmup: o.warmup,
    maxOps: o.maxOps,
    updateMode: o.updateMode,
    seed: o.seed,
    requestTimeoutMs: o.requestTimeoutMs,
  });
  try {
    if (o.initialWarmup > 0) {
      say(`[${spec.name}] warm-up ${o.initialWarmup} s (fresh keys, unmeasured)`);
      await gen.warmup(o.initialWarmup);
    }
    const needsLoad = o.phases.some((p) => p !== 'load');
    const phases: Array<PhaseName | 'preload'> = o.phases.includes('load') || !needsLoad ? o.phases : ['preload', ...o.phases];
    for (const phase of phases) {
      const p = await gen.run(phase === 'preload' ? 'load' : phase, phase === 'load' || phase === 'preload' ? 0 : o.warmup);
      const line = `[${spec.name}] ${phase === 'preload' ? 'preload (not reported)' : PHASE_SPECS[phase].title}: ${Math.round(p.opsPerSec).toLocaleString('en-US')} ops/s over ${p.seconds.toFixed(1)} s` +
        (p.errors > 0 ? `, ${p.errors} errors` : '') + (p.phase === 'load' && p.stoppedBy !== 'done' ? ` — only ${p.ops} of ${o.records} records loaded (${p.stoppedBy} cap)` : '');
      say(line);
      if (phase !== 'preload') result.phases.push(p);
      if (p.ops === 0) throw new Error(`phase ${p.phase}: no successful operation (${JSON.stringify(Object.values(p.byOp).map((s) => s.statuses))})`);
    }
  } catch (error) {
    if (error instanceof TargetDied) {
      const proc = target.procs.find((p) => p.label === error.label);
      result.error = proc ? crashReport(proc) : error.message;
    } else {
      result.error = (error as Error).message;
    }
  } finally {
    await gen.close();
    await stopTarget(target);
  }
  if (target.cpuProfDir !== undefined) result.cpuProfDir = target.cpuProfDir;
  if (o.keep) result.logs = target.dir;
  for (const p of target.procs) {
    if (p.exitCode !== 0 && p.exitCode !== null && result.error === undefined) {
      warn(`[${spec.name}] note: ${p.label} exited with code ${p.exitCode} on stop (log: ${p.logFile})`);
    }
  }
  return result;
}

async function main(): Promise<number> {
  let o: BenchOptions | 'help';
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (error) {
    warn(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o === 'help') {
    say(USAGE);
    return 0;
  }
  const opts = o;
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const baseDir = mkdtempSync(join(tmpdir(), 'dynakv-bench-'));
  const cpuProfDir = opts.cpuProf ? resolve(opts.cpuProfDir ?? join(outDir, `cpuprof-${stamp}`)) : undefined;
  const dataFs = fsName(baseDir);
  const fsyncBefore = probeFsync(baseDir);
  const machine = machineInfo(dataFs);
  const notes = [updateNote(opts)];
  if (dataFs === 'tmpfs') notes.push(`data dir ${baseDir} is on tmpfs: fsync costs nothing there, durable numbers are not representative`);
  if (opts.cpuProf) notes.push('nodes ran under --cpu-prof: profiling costs a few % of throughput');

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      killAllNow();
      process.exit(130);
    }
    interrupted = true;
    warn(`\nbench: ${signal}, stopping the processes under test…`);
    void Promise.all(liveProcs().map((p) => stopProc(p, 5_000))).finally(() => {
      if (!opts.keep) rmSync(baseDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  process.on('exit', killAllNow);

  say(`dynakv bench: ${opts.clients} clients, ${opts.records.toLocaleString('en-US')} records × ${opts.valueBytes} B, ` +
    `phases ${opts.phases.join(',')} (${opts.seconds} s each after ${opts.warmup} s warm-up; load capped at ${opts.loadSeconds} s, ` +
    `after ${opts.initialWarmup} s of initial warm-up), ` +
    `update mode ${opts.updateMode}; data in ${baseDir} (${dataFs})`);
  say(`note: ${notes[0]}`);
  say(`disk: 4 KiB write+fdatasync p50 ${fsyncBefore.p50Ms} ms, p99 ${fsyncBefore.p99Ms} ms; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  const results: TargetResult[] = [];
  try {
    for (const spec of targetSpecs(opts)) {
      const r = await runTarget(spec, opts, baseDir, cpuProfDir);
      results.push(r);
      say(renderTarget(r));
    }
  } finally {
    // Data of a target that worked goes; a failed target's logs stay for diagnosis.
    for (const r of results) {
      if (r.error === undefined && !opts.keep) rmSync(join(baseDir, r.spec.name), { recursive: true, force: true });
    }
  }

  let fsyncAfter: FsyncProbe | undefined;
  try {
    fsyncAfter = probeFsync(baseDir);
    say(`disk after the run: 4 KiB write+fdatasync p50 ${fsyncAfter.p50Ms} ms, p99 ${fsyncAfter.p99Ms} ms`);
  } finally {
    const failedDirs = results.filter((r) => r.error !== undefined).map((r) => join(baseDir, r.spec.name));
    if (!opts.keep && failedDirs.length === 0) rmSync(baseDir, { recursive: true, force: true });
    else if (failedDirs.length > 0) say(`logs of failed targets kept: ${failedDirs.join(', ')}`);
  }
  const { verdicts: v, ratios } = verdicts(results);
  if (results.some((r) => r.phases.length > 0)) say(`\n${RESOURCES_LEGEND}`);
  say(renderVerdicts(v));
  const odd = warnings(results);
  if (odd.length > 0) {
    say('\nWorkload warnings:');
    for (const w of odd) say(`  ${w}`);
    if (opts.updateMode === 'blind') say('  → blind updates (PUT without context) create siblings on existing keys; for overwrite semantics run with --update context (or --rmw).');
    notes.push(...odd);
  }
  const finishedAt = new Date();
  const json = buildJson({ startedAt, finishedAt, options: opts, machine: { ...machine, fsyncProbe: { before: fsyncBefore, after: fsyncAfter } }, results, verdicts: v, ratios, notes });
  const file = join(outDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  say(`\nresults: ${relative(process.cwd(), file) || file}  (${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s)`);
  if (opts.keep) say(`node data and logs kept in ${baseDir}`);
  if (cpuProfDir !== undefined) {
    const profiles = findProfiles(cpuProfDir);
    say(`CPU profiles (${profiles.length}) in ${cpuProfDir}:`);
    for (const p of profiles) say(`  ${p}`);
    say(`summarise: node scripts/cpuprofile-top.mjs ${relative(process.cwd(), cpuProfDir) || cpuProfDir}`);
  }
  const failed = results.filter((r) => r.error !== undefined);
  for (const r of failed) warn(`bench: ${r.spec.name}: ${r.error}`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    warn(`bench: ${(error as Error).stack ?? String(error)}`);
    killAllNow();
    process.exitCode = 1;
  },
);
