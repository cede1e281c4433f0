#!/usr/bin/env node
/**
 * One line per (run, target, phase) from bench-results/*.json, to compare runs
 * on a shared machine: throughput, p50/p99, server CPU per op and the CPU-bound
 * ceiling, and how many cores other work took ("other") during the phase.
 *
 *   node scripts/bench-summary.mjs [files or dirs…] [--quiet 0.3] [--target cluster] [--phase c]
 *
 * --quiet X keeps only phases during which other work used < X cores.
 * Default input: bench-results/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const args = process.argv.slice(2);
let quiet = Infinity;
let target;
let phase;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--quiet') quiet = Number(args[++i]);
  else if (a === '--target') target = args[++i];
  else if (a === '--phase') phase = args[++i];
  else if (a === '-h' || a === '--help') {
    process.stdout.write('usage: node scripts/bench-summary.mjs [files or dirs…] [--quiet CORES] [--target NAME] [--phase P]\n');
    process.exit(0);
  } else inputs.push(a);
}
if (inputs.length === 0) inputs.push('bench-results');

const files = [];
for (const p of inputs) {
  if (statSync(p).isDirectory()) {
    for (const f of readdirSync(p).sort()) if (f.endsWith('.json')) files.push(join(p, f));
  } else files.push(p);
}

const rows = [['run', 'update', 'target', 'phase', 'op', 'ops/s', 'p50 ms', 'p99 ms', '300s %', 'srv µs/op', 'ceiling/s', 'other', 'commits/op']];
for (const file of files) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    continue;
  }
  if (doc.schema !== 'dynakv-bench/1') continue;
  for (const t of doc.targets ?? []) {
    if (target !== undefined && t.spec.name !== target) continue;
    for (const p of t.phases ?? []) {
      if (phase !== undefined && p.phase !== phase) continue;
      const other = p.cpu?.otherCores;
      if (other !== null && other !== undefined && other >= quiet) continue;
      for (const [op, s] of Object.entries(p.byOp)) {
        const n300 = s.statuses?.['300'] ?? 0;
        rows.push([
          basename(file, '.json').slice(0, 19),
          doc.config?.updateMode ?? '?',
          t.spec.name,
          p.phase,
          op,
          Math.round(s.opsPerSec).toLocaleString('en-US'),
          (s.p50Us / 1000).toFixed(1),
          (s.p99Us / 1000).toFixed(1),
          s.count > 0 && op === 'read' ? ((100 * n300) / s.count).toFixed(0) : '',
          p.serverCpuUsPerOp == null ? '?' : String(p.serverCpuUsPerOp),
          p.cpuBoundCeilingOpsPerSec == null ? '?' : p.cpuBoundCeilingOpsPerSec.toLocaleString('en-US'),
          other == null ? '?' : other.toFixed(2),
          p.lmdbCommits == null || p.ops === 0 ? '' : (p.lmdbCommits / p.ops).toFixed(2),
        ]);
      }
    }
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) process.stdout.write(`${r.map((c, i) => (i >= 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')}\n`);
