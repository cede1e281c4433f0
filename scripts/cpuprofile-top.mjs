#!/usr/bin/env node
/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): top functions by self
 * time, by inclusive time, and self time grouped by package / file.
 *
 *   node scripts/cpuprofile-top.mjs <file.cpuprofile | dir>... [--top 30] [--filter REGEX] [--window START-END]
 *        [--callers REGEX [--depth 6]] [--within REGEX] [--bucket NAME=REGEX]...
 *
 * Directories are searched recursively; several profiles are summed (e.g. the
 * three nodes of a cluster). Self time uses the samples' timeDeltas, so it is
 * wall time the JS thread spent in that function (the (idle) row is the rest).
 * --window 0.3-0.9 keeps only samples in that fraction of each profile's span
 * (to drop start-up and shutdown). --callers REGEX lists the call stacks
 * (innermost first, --depth frames) that lead to functions matching REGEX,
 * weighted by the time spent in the matching function itself. --within REGEX
 * keeps only samples with a frame matching REGEX on the stack (a subtree view,
 * e.g. --within 'putKv' or --within 'reaper'). Each --bucket NAME=REGEX (in
 * order; the first whose REGEX matches any frame of a sample's stack wins)
 * splits busy time into named layers, e.g.
 *   --bucket reaper=reaper --bucket peer=peer-api --bucket public=public-api
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function usage(code) {
  process.stderr.write('usage: node scripts/cpuprofile-top.mjs <file.cpuprofile | dir>... [--top N] [--filter REGEX] [--window A-B]\n');
  process.exit(code);
}

const args = process.argv.slice(2);
let top = 30;
let filter;
let win = [0, 1];
let callers;
let depth = 6;
let within;
const buckets = [];
const inputs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--top') top = Number(args[++i]);
  else if (a === '--filter') filter = new RegExp(args[++i]);
  else if (a === '--callers') callers = new RegExp(args[++i]);
  else if (a === '--depth') depth = Number(args[++i]);
  else if (a === '--within') within = new RegExp(args[++i]);
  else if (a === '--bucket') {
    const spec = args[++i] ?? '';
    const eq = spec.indexOf('=');
    if (eq <= 0) usage(2);
    buckets.push({ name: spec.slice(0, eq), re: new RegExp(spec.slice(eq + 1)), ms: 0 });
  }
  else if (a === '--window') {
    const m = /^([\d.]+)-([\d.]+)$/.exec(args[++i] ?? '');
    if (!m) usage(2);
    win = [Number(m[1]), Number(m[2])];
  } else if (a === '-h' || a === '--help') usage(0);
  else inputs.push(a);
}
if (inputs.length === 0 || !Number.isFinite(top)) usage(2);

function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const e of readdirSync(path).sort()) collect(join(path, e), out);
  } else if (path.endsWith('.cpuprofile')) out.push(path);
}
const files = [];
for (const p of inputs) collect(p, files);
if (files.length === 0) {
  process.stderr.write('no .cpuprofile files found\n');
  process.exit(1);
}

const cwd = process.cwd();
/** Where a script URL belongs: a package, node internals, dynakv's own files, or a V8 pseudo-frame. */
function groupOf(url, name) {
  if (url === '') return name.startsWith('(') ? name : '(native/V8)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `dynakv ${url.slice(dist + 1).split('/').slice(0, 2).join('/')}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url) {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

const bucketOther = { name: '(other)', ms: 0 };
const self = new Map(); // key -> {name, where, group, ms}
const incl = new Map(); // key -> ms
const groups = new Map(); // group -> ms
const stacks = new Map(); // caller chain -> ms (with --callers)
let totalMs = 0;
let idleMs = 0;
let gcMs = 0;

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map();
  const parent = new Map();
  for (const n of prof.nodes) {
    nodes.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = new Map();
  for (const n of prof.nodes) {
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    keyOf.set(n.id, { key: `${name}\u0000${where}`, name, where, group: groupOf(cf.url, name) });
  }
  const { samples, timeDeltas } = prof;
  const span = prof.endTime - prof.startTime;
  const from = prof.startTime + win[0] * span;
  const to = prof.startTime + win[1] * span;
  let t = prof.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    if (t < from || t > to) continue;
    // A sample's duration is the gap to the next sample (V8 attributes it to the sampled stack).
    const dt = (timeDeltas[i + 1] ?? 0) / 1000;
    if (dt <= 0) continue;
    const id = samples[i];
    const k = keyOf.get(id);
    if (within !== undefined) {
      let inside = false;
      for (let cur = id; cur !== undefined && !inside; cur = parent.get(cur)) {
        const f = keyOf.get(cur);
        inside = within.test(`${f.name} ${f.where}`);
      }
      if (!inside) continue;
    }
    totalMs += dt;
    if (k.name === '(idle)') idleMs += dt;
    else if (buckets.length > 0) {
      let hit = bucketOther;
      for (const b of buckets) {
        let found = false;
        for (let cur = id; cur !== undefined && !found; cur = parent.get(cur)) {
          const f = keyOf.get(cur);
          found = b.re.test(`${f.name} ${f.where}`);
        }
        if (found) {
          hit = b;
          break;
        }
      }
      hit.ms += dt;
    }
    if (k.name === '(garbage collector)') gcMs += dt;
    const s = self.get(k.key) ?? { name: k.name, where: k.where, group: k.group, ms: 0 };
    s.ms += dt;
    self.set(k.key, s);
    groups.set(k.group, (groups.get(k.group) ?? 0) + dt);
    if (callers !== undefined && callers.test(`${k.name} ${k.where}`)) {
      const chain = [];
      for (let cur = id; cur !== undefined && chain.length < depth; cur = parent.get(cur)) {
        const f = keyOf.get(cur);
        if (f.name === '(root)') break;
        chain.push(`${f.name}${f.where ? ` (${f.where})` : ''}`);
      }
      const c = chain.join('\n        ← ');
      stacks.set(c, (stacks.get(c) ?? 0) + dt);
    }
    // Inclusive: each distinct function on the stack once (recursion counted once).
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = keyOf.get(cur).key;
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + dt);
    }
  }
}

const busyMs = totalMs - idleMs;
const pct = (ms, of) => (of > 0 ? ((100 * ms) / of).toFixed(1).padStart(5) : '    –');
const fmt = (ms) => ms.toFixed(0).padStart(8);
const keep = (s) => filter === undefined || filter.test(`${s.name} ${s.where}`);

const out = [];
out.push(`${files.length} profile(s): ${files.map((f) => relative(cwd, f)).join(', ')}`);
if (within !== undefined) out.push(`only samples with ${within} on the stack`);
out.push(`sampled ${(totalMs / 1000).toFixed(1)} s; idle ${(idleMs / 1000).toFixed(1)} s; busy ${(busyMs / 1000).toFixed(1)} s (GC ${(gcMs / 1000).toFixed(1)} s = ${pct(gcMs, busyMs).trim()} % of busy)`);
out.push('');
out.push(`Top ${top} by self time (% of busy = non-idle JS-thread time):`);
out.push(`${'self ms'.padStart(8)}  ${'%busy'}  function  (file:line)`);
const selfRows = [...self.values()].filter((s) => s.name !== '(idle)' && keep(s)).sort((a, b) => b.ms - a.ms).slice(0, top);
for (const s of selfRows) out.push(`${fmt(s.ms)}  ${pct(s.ms, busyMs)}  ${s.name}  ${s.where ? `(${s.where})` : ''}`);
out.push('');
out.push(`Self time by package / file group:`);
for (const [g, ms] of [...groups].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 20)) {
  out.push(`${fmt(ms)}  ${pct(ms, busyMs)}  ${g}`);
}
out.push('');
out.push(`Top ${top} by inclusive time (function and everything it called):`);
const inclRows = [...incl]
  .map(([k, ms]) => ({ ...self.get(k), ...splitKey(k), ms }))
  .filter((s) => !['(root)', '(idle)', '(program)'].includes(s.name) && keep(s))
  .sort((a, b) => b.ms - a.ms)
  .slice(0, top);
for (const s of inclRows) out.push(`${fmt(s.ms)}  ${pct(s.ms, busyMs)}  ${s.name}  ${s.where ? `(${s.where})` : ''}`);
if (buckets.length > 0) {
  out.push('');
  out.push('Busy time by bucket (first matching bucket on the stack):');
  for (const b of [...buckets, bucketOther]) out.push(`${fmt(b.ms)}  ${pct(b.ms, busyMs)}  ${b.name}  ${b.re ? b.re : ''}`);
}
if (callers !== undefined) {
  out.push('');
  out.push(`Call stacks into ${callers} (self time of the matching frame):`);
  for (const [c, ms] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${fmt(ms)}  ${pct(ms, busyMs)}  ${c}`);
}
process.stdout.write(`${out.join('\n')}\n`);

function splitKey(k) {
  const [name, where] = k.split('\u0000');
  return { name, where };
}
