/**
 * The processes under test: dynakv nodes (bin/dynakv.js start) and the bare
 * fastify server, each a child process of the bench on free loopback ports,
 * with data under a temp dir. Every child is registered so that it is stopped,
 * by its own PID, on every exit path (normal, error, Ctrl-C).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { TargetKind } from './options.js';

/** bin/dynakv.js of this checkout (this file is dist/bench/targets.js). */
export const LAUNCHER = fileURLToPath(new URL('../../bin/dynakv.js', import.meta.url));
const BARE_SERVER = fileURLToPath(new URL('./bare-server.js', import.meta.url));

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 20_000; // writing a CPU profile of a busy node can take a few seconds

export interface Proc {
  label: string;
  api: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  exited: boolean;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Set once we asked it to stop, so its exit is not reported as a crash. */
  stopping: boolean;
  /** The node's LMDB data file (to count its commits), for dynakv nodes. */
  lmdbFile?: string;
}

export interface TargetSpec {
  /** Unique name in one run, e.g. "cluster", "single", "cluster-nosync", "bare". */
  name: string;
  kind: TargetKind;
  nodes: number;
  replicas: number;
  sync: 'fsync' | 'none' | null;
}

export interface Target {
  spec: TargetSpec;
  procs: Proc[];
  /** Public API origins clients spread over (one per process). */
  origins: string[];
  dir: string;
  cpuProfDir: string | undefined;
}

const live = new Set<Proc>();

/** Every child still running (for emergency cleanup). */
export function liveProcs(): Proc[] {
  return [...live].filter((p) => !p.exited);
}

/** Last resort on process exit: SIGKILL whatever is left (synchronous, by PID). */
export function killAllNow(): void {
  for (const p of liveProcs()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Distinct free loopback ports: hold every listener open until all are chosen. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new Error('could not allocate a port');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function spawnProc(label: string, api: string, argv: string[], logFile: string): Proc {
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // Not detached: a Ctrl-C in the terminal reaches the nodes too, and our handler stops them anyway.
    child = spawn(process.execPath, argv, { stdio: ['ignore', log, log], env: benchChildEnv() });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`could not start ${label}`);
  const proc: Proc = { label, api, child, pid: child.pid, logFile, exited: false, exitCode: null, exitSignal: null, stopping: false };
  live.add(proc);
  child.on('error', () => {});
  child.on('exit', (code, signal) => {
    proc.exited = true;
    proc.exitCode = code;
    proc.exitSignal = signal;
  });
  return proc;
}

/** DYNAKV_* from the caller's shell would silently change the nodes; NODE_OPTIONS too (e.g. a stray --cpu-prof). */
function benchChildEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DYNAKV_') && k !== 'NODE_OPTIONS'));
}

export interface StartOptions {
  baseDir: string;
  cpuProfDir: string | undefined;
  valueBytes: number;
}

export async function startTarget(spec: TargetSpec, opts: StartOptions): Promise<Target> {
  const dir = join(opts.baseDir, spec.name);
  mkdirSync(dir, { recursive: true });
  const profDir = opts.cpuProfDir === undefined || spec.kind === 'bare' ? undefined : join(opts.cpuProfDir, spec.name);
  const target: Target = { spec, procs: [], origins: [], dir, cpuProfDir: profDir };
  try {
    if (spec.kind === 'bare') {
      const [port] = await freePorts(1);
      const api = `127.0.0.1:${port}`;
      target.procs.push(spawnProc('bare', api, [BARE_SERVER, '127.0.0.1', String(port), String(opts.valueBytes)], join(dir, 'bare.log')));
    } else {
      const ports = await freePorts(spec.nodes * 2);
      const peers = Array.from({ length: spec.nodes }, (_, i) => `127.0.0.1:${ports[spec.nodes + i]}`);
      for (let i = 0; i < spec.nodes; i++) {
        const id = `n${i + 1}`;
        const api = `127.0.0.1:${ports[i]}`;
        const nodeArgs: string[] = [];
        if (profDir !== undefined) {
          const d = join(profDir, id);
          mkdirSync(d, { recursive: true });
          nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${d}`);
        }
        nodeArgs.push(
          LAUNCHER, 'start',
          '--id', id,
          '--api', api,
          '--peer', peers[i]!,
          '--seeds', peers.join(','),
          '--data', join(dir, id),
          '--replicas', String(spec.replicas),
          '--sync', spec.sync ?? 'fsync',
        );
        const proc = spawnProc(id, api, nodeArgs, join(dir, `${id}.log`));
        // The node keeps its objects in <data>/db (src/node/node.ts); best effort, only for counting commits.
        proc.lmdbFile = join(dir, id, 'db', 'data.mdb');
        target.procs.push(proc);
      }
    }
    target.origins = target.procs.map((p) => `http://${p.api}`);
    await Promise.all(target.procs.map((p) => waitHealthy(p)));
    if (spec.kind !== 'bare') await waitRingSettled(target);
    return target;
  } catch (error) {
    await stopTarget(target);
    throw error;
  }
}

/** A node that died: the error names it and shows its log tail. */
export function crashReport(p: Proc): string {
  return `${p.label} (pid ${p.pid}) exited (code ${p.exitCode}, signal ${p.exitSignal}). Last lines of ${p.logFile}:\n${logTail(p.logFile)}`;
}

function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').slice(-lines).map((l) => `  | ${l}`).join('\n');
  } catch {
    return '  (no log)';
  }
}

async function httpGet(origin: string, path: string): Promise<{ status: number; body: string }> {
  const pool = new Pool(origin, { connections: 1 });
  try {
    const res = await pool.request({ method: 'GET', path, headersTimeout: 2_000, bodyTimeout: 2_000 });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await pool.destroy();
  }
}

async function waitHealthy(p: Proc): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    if (p.exited) throw new Error(crashReport(p));
    try {
      if ((await httpGet(`http://${p.api}`, '/health')).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${p.label} not healthy after ${HEALTH_TIMEOUT_MS / 1000} s; log: ${p.logFile}\n${logTail(p.logFile)}`);
    await sleep(100);
  }
}

/** Every node sees every other alive and all agree on the ring's owners. */
async function waitRingSettled(target: Target): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  const n = target.spec.nodes;
  let last = '';
  for (;;) {
    try {
      const views = await Promise.all(
        target.procs.map(async (p) => {
          const members = JSON.parse((await httpGet(`http://${p.api}`, '/v1/cluster/members')).body) as Array<{ status: string }>;
          const ring = JSON.parse((await httpGet(`http://${p.api}`, '/v1/cluster/ring')).body) as { owners: string[] };
          return { alive: members.filter((m) => m.status === 'alive').length, owners: ring.owners.join(',') };
        }),
      );
      const owners = new Set(views.map((v) => v.owners));
      const distinct = new Set(views[0]!.owners.split(',')).size;
      if (views.every((v) => v.alive === n) && owners.size === 1 && distinct === n) return;
      last = `alive ${views.map((v) => v.alive).join('/')}, ${owners.size} ring views, ${distinct} owners`;
    } catch (error) {
      last = String(error);
    }
    for (const p of target.procs) if (p.exited) throw new Error(crashReport(p));
    if (Date.now() > deadline) throw new Error(`${target.spec.name}: cluster did not settle in ${HEALTH_TIMEOUT_MS / 1000} s (${last})`);
    await sleep(200);
  }
}

/** SIGTERM each process (graceful: nodes flush and write their CPU profiles), SIGKILL after the grace. */
export async function stopTarget(target: Target): Promise<void> {
  await Promise.all(target.procs.map((p) => stopProc(p)));
}

export async function stopProc(p: Proc, graceMs = STOP_GRACE_MS): Promise<void> {
  if (p.exited) {
    live.delete(p);
    return;
  }
  p.stopping = true;
  const gone = new Promise<void>((resolve) => {
    if (p.exited) resolve();
    else p.child.once('exit', () => resolve());
  });
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await gone;
  clearTimeout(timer);
  live.delete(p);
}
