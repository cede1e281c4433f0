/** The human-readable table and the JSON document of one bench run. */
import { cpus, loadavg, totalmem, release, hostname } from 'node:os';
import type { BenchOptions, PhaseName } from './options.js';
import type { OpType, PhaseResult } from './runner.js';
import type { TargetSpec } from './targets.js';

export interface TargetResult {
  spec: TargetSpec;
  description: string;
  phases: PhaseResult[];
  error?: string;
  cpuProfDir?: string;
  logs?: string;
}

/** Issue targets: reported against, never asserted (benchmarks are not tests). */
export const ISSUE_TARGETS = {
  clusterWritesPerSec: 6000,
  clusterReadsPerSec: 8500,
  clusterP99Ms: 10,
  singleOverBare: 0.7,
} as const;

/**
 * Share of reads answered 300 beyond which a phase measured sibling envelopes
 * more than plain reads. A few % is normal with concurrent writers of hot keys.
 */
const SIBLING_WARN_SHARE = 0.1;

export interface Verdict {
  name: string;
  value: number | null;
  target: string;
  met: boolean | null;
  note: string;
}

export interface Ratio {
  phase: PhaseName;
  single: number;
  bare: number;
  ratio: number;
}

export function machineInfo(dataFs: string): Record<string, unknown> {
  const c = cpus();
  return {
    hostname: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    totalMemMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    loadavgAtStart: loadavg(),
    dataDirFilesystem: dataFs,
  };
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (us: number): string => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;

function pad(cells: string[], widths: number[], right: boolean[]): string {
  return cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
}

function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const lines = [pad(header, widths, right), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => pad(r, widths, right))];
  return lines.join('\n');
}

function statusNote(stats: { statuses: Record<string, number> }, okStatuses: string[]): string {
  const odd = Object.entries(stats.statuses).filter(([s]) => !okStatuses.includes(s));
  return odd.map(([s, n]) => `${s}×${fmtInt(n)}`).join(' ');
}

export function renderTarget(t: TargetResult): string {
  const out: string[] = [`\n=== ${t.spec.name}: ${t.description} ===`];
  if (t.error !== undefined) out.push(`ERROR: ${t.error}`);
  if (t.phases.length === 0) return out.join('\n');
  const rows: string[][] = [];
  for (const p of t.phases) {
    const ops = (['insert', 'read', 'update'] as OpType[]).filter((o) => p.byOp[o] !== undefined);
    for (const op of ops) {
      const s = p.byOp[op]!;
      const notes: string[] = [];
      if (op === 'read') {
        const n300 = s.statuses['300'] ?? 0;
        const n404 = s.statuses['404'] ?? 0;
        if (n300 > 0) notes.push(`300(siblings)×${fmtInt(n300)}`);
        if (n404 > 0) notes.push(`404×${fmtInt(n404)}`);
        if (s.maxBodyBytes > 2 * 1024) notes.push(`body mean ${fmtInt(s.meanBodyBytes)} B max ${fmtInt(s.maxBodyBytes)} B`);
      }
      const bad = statusNote(s, op === 'read' ? ['200', '300', '404'] : ['204', '200']);
      if (bad !== '') notes.push(bad);
      rows.push([p.phase.toUpperCase(), op, fmtInt(s.opsPerSec), fmtMs(s.p50Us), fmtMs(s.p99Us), fmtMs(s.p999Us), fmtMs(s.maxUs), fmtInt(s.count), notes.join(' ')]);
    }
    if (ops.length > 1) rows.push([p.phase.toUpperCase(), 'all', fmtInt(p.opsPerSec), '', '', '', '', fmtInt(p.ops), '']);
  }
  out.push(table(['phase', 'op', 'ops/s', 'p50 ms', 'p99 ms', 'p999 ms', 'max ms', 'ops', 'notes'], rows, [false, false, true, true, true, true, true, true, false]));
  out.push('');
  out.push(`Resources in the measured window (${cpus().length} cores; columns explained below the last target):`);
  const cpuRows: string[][] = [];
  for (const p of t.phases) {
    const procs = Object.entries(p.cpu.processes);
    const ios = Object.values(p.cpu.io);
    const ioKnown = ios.length > 0 && ios.every((x) => x !== null);
    const sum = (f: (x: NonNullable<(typeof ios)[number]>) => number): number => ios.reduce((a, x) => a + (x === null ? 0 : f(x)), 0);
    const perOpIo = (n: number): string => (ioKnown && p.ops > 0 ? (n / p.ops).toFixed(1) : '?');
    cpuRows.push([
      p.phase.toUpperCase(),
      procs.map(([k, v]) => `${k} ${v === null ? '?' : (v / p.cpu.wallSeconds).toFixed(2)}`).join(' '),
      p.cpu.loadGenerator === null ? '?' : (p.cpu.loadGenerator / p.cpu.wallSeconds).toFixed(2),
      p.loadGeneratorElu.toFixed(2),
      p.cpu.otherCores === null ? '?' : p.cpu.otherCores.toFixed(2),
      p.serverCpuUsPerOp === null ? '?' : fmtInt(p.serverCpuUsPerOp),
      p.cpuBoundCeilingOpsPerSec === null ? '?' : fmtInt(p.cpuBoundCeilingOpsPerSec),
      `${perOpIo(sum((x) => x.syscr))} / ${perOpIo(sum((x) => x.syscw))}`,
      p.lmdbCommits === null || p.ops === 0 ? '–' : (p.lmdbCommits / p.ops).toFixed(2),
      p.stoppedBy,
    ]);
  }
  out.push(
    table(
      ['phase', 'server processes (cores)', 'loadgen', 'loadgen ELU', 'other', 'server CPU µs/op', 'CPU-bound ceiling ops/s', 'syscalls/op r / w', 'LMDB commits/op', 'ended by'],
      cpuRows,
      [false, false, true, true, true, true, true, true, true, false],
    ),
  );
  return out.join('\n');
}

function ceilingNote(p: PhaseResult | undefined): string {
  if (p === undefined || p.serverCpuUsPerOp === null || p.cpuBoundCeilingOpsPerSec === null) return '';
  return `; server CPU ${fmtInt(p.serverCpuUsPerOp)} µs/op, CPU-bound ceiling ${fmtInt(p.cpuBoundCeilingOpsPerSec)}/s`;
}

function phaseOf(t: TargetResult | undefined, phase: PhaseName): PhaseResult | undefined {
  return t?.phases.find((p) => p.phase === phase);
}

export function verdicts(results: TargetResult[]): { verdicts: Verdict[]; ratios: Ratio[] } {
  const out: Verdict[] = [];
  const ratios: Ratio[] = [];
  const cluster = results.find((r) => r.spec.kind === 'cluster' && r.spec.sync !== 'none');
  const single = results.find((r) => r.spec.kind === 'single' && r.spec.sync !== 'none');
  const bare = results.find((r) => r.spec.kind === 'bare');
  const load = phaseOf(cluster, 'load')?.byOp.insert;
  const c = phaseOf(cluster, 'c')?.byOp.read;
  const ms = (us: number): number => Math.round(us / 10) / 100;
  if (cluster !== undefined) {
    out.push({
      name: `${cluster.spec.name} writes/s (load: 1 KiB inserts)`,
      value: load ? Math.round(load.opsPerSec) : null,
      target: `≥ ${fmtInt(ISSUE_TARGETS.clusterWritesPerSec)}`,
      met: load ? load.opsPerSec >= ISSUE_TARGETS.clusterWritesPerSec : null,
      note: load ? `${pct(load.opsPerSec / ISSUE_TARGETS.clusterWritesPerSec)} of target${ceilingNote(phaseOf(cluster, 'load'))}` : 'load phase not run',
    });
    out.push({
      name: `${cluster.spec.name} write p99 ms (load)`,
      value: load ? ms(load.p99Us) : null,
      target: `≤ ${ISSUE_TARGETS.clusterP99Ms}`,
      met: load ? load.p99Us <= ISSUE_TARGETS.clusterP99Ms * 1000 : null,
      note: '',
    });
    const siblingShare = c && c.count > 0 ? (c.statuses['300'] ?? 0) / c.count : 0;
    out.push({
      name: `${cluster.spec.name} reads/s (C: 100 % read)`,
      value: c ? Math.round(c.opsPerSec) : null,
      target: `≥ ${fmtInt(ISSUE_TARGETS.clusterReadsPerSec)}`,
      met: c ? c.opsPerSec >= ISSUE_TARGETS.clusterReadsPerSec : null,
      note: c
        ? `${pct(c.opsPerSec / ISSUE_TARGETS.clusterReadsPerSec)} of target${ceilingNote(phaseOf(cluster, 'c'))}` +
          (siblingShare > SIBLING_WARN_SHARE ? `; ${pct(siblingShare)} of reads were 300 (siblings), not comparable` : '')
        : 'phase C not run',
    });
    out.push({
      name: `${cluster.spec.name} read p99 ms (C)`,
      value: c ? ms(c.p99Us) : null,
      target: `≤ ${ISSUE_TARGETS.clusterP99Ms}`,
      met: c ? c.p99Us <= ISSUE_TARGETS.clusterP99Ms * 1000 : null,
      note: '',
    });
  }
  if (single !== undefined && bare !== undefined) {
    for (const s of single.phases) {
      const b = phaseOf(bare, s.phase);
      if (b === undefined || b.opsPerSec === 0) continue;
      ratios.push({ phase: s.phase, single: Math.round(s.opsPerSec), bare: Math.round(b.opsPerSec), ratio: Math.round((s.opsPerSec / b.opsPerSec) * 1000) / 1000 });
    }
    for (const r of ratios) {
      out.push({
        name: `single/bare ops/s, phase ${r.phase.toUpperCase()}`,
        value: r.ratio,
        target: `≥ ${ISSUE_TARGETS.singleOverBare}`,
        met: r.ratio >= ISSUE_TARGETS.singleOverBare,
        note: `${fmtInt(r.single)} / ${fmtInt(r.bare)}`,
      });
    }
  }
  return { verdicts: out, ratios };
}

/** The legend of the resources table, printed once. */
export const RESOURCES_LEGEND = [
  'Resources columns: cores = CPU s / wall s of each server process (all threads); loadgen = this bench process;',
  "loadgen ELU = its event-loop utilization (near 1: the load generator is the bottleneck); other = the machine's busy",
  'cores that are not ours (other work on a shared machine: noise); server CPU µs/op and syscalls/op (read-like /',
  'write-like, /proc/<pid>/io) sum all server processes per successful op; CPU-bound ceiling = cores / (server +',
  'loadgen CPU per op), the rate an idle machine would allow at these costs (an upper bound that ignores waiting,',
  'robust to noise); LMDB commits/op = write transactions of all nodes per op (an insert at N=3 is 3 puts, so 3.0',
  'would mean no group commit at all).',
].join('\n');

export function renderVerdicts(v: Verdict[]): string {
  if (v.length === 0) return '';
  const rows = v.map((x) => [x.name, x.value === null ? '–' : String(x.value), x.target, x.met === null ? '–' : x.met ? 'met' : 'MISSED', x.note]);
  return `\nIssue targets (reported, not asserted):\n${table(['measure', 'value', 'target', '', 'note'], rows, [false, true, false, false, false])}`;
}

export function buildJson(args: {
  startedAt: Date;
  finishedAt: Date;
  options: BenchOptions;
  machine: Record<string, unknown>;
  results: TargetResult[];
  verdicts: Verdict[];
  ratios: Ratio[];
  notes: string[];
}): Record<string, unknown> {
  return {
    schema: 'dynakv-bench/1',
    startedAt: args.startedAt.toISOString(),
    finishedAt: args.finishedAt.toISOString(),
    machine: { ...args.machine, loadavgAtEnd: loadavg() },
    config: {
      ...args.options,
      keyChooser: 'YCSB ScrambledZipfianGenerator, zipfian constant 0.99',
      keyNames: 'YCSB hashed insert order: "user" + fnvhash64(i)',
      quorum: 'r = w = quorum (the server default; 2 of N=3, 1 of N=1)',
      latencyUnit: 'µs (histograms: hdr-histogram-js encodeIntoCompressedBase64)',
      loop: 'closed loop, one connection per client, no pipelining',
    },
    notes: args.notes,
    targets: args.results,
    ratios: { singleOverBare: args.ratios },
    issueTargets: { targets: ISSUE_TARGETS, verdicts: args.verdicts },
  };
}

/** Where the workload measured something else than intended: sibling envelopes, 409s, missing records. */
export function warnings(results: TargetResult[]): string[] {
  const out: string[] = [];
  for (const t of results) {
    for (const p of t.phases) {
      const r = p.byOp.read;
      const u = p.byOp.update;
      if (r && r.count > 0) {
        const n300 = r.statuses['300'] ?? 0;
        const n404 = r.statuses['404'] ?? 0;
        if (n300 / r.count > SIBLING_WARN_SHARE) {
          out.push(`${t.spec.name} ${p.phase.toUpperCase()}: ${pct(n300 / r.count)} of reads answered 300 with siblings (mean body ${fmtInt(r.meanBodyBytes)} B, max ${fmtInt(r.maxBodyBytes)} B)`);
        }
        if (n404 / r.count > 0.01) out.push(`${t.spec.name} ${p.phase.toUpperCase()}: ${pct(n404 / r.count)} of reads were 404 (load incomplete?)`);
      }
      const n409 = u?.statuses['409'] ?? 0;
      if (u && n409 > 0) out.push(`${t.spec.name} ${p.phase.toUpperCase()}: ${fmtInt(n409)} updates got 409 too_many_siblings (not counted as successful ops)`);
    }
  }
  return out;
}
