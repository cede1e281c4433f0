/**
 * Node processes of the local cluster: spawn detached, check a PID is still
 * one of ours before signalling it, stop gracefully, wait until healthy.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors.js';
import { http } from '../http.js';
import type { NodeRecord } from './state.js';

/** bin/dynakv.js of this package, whatever the caller's cwd (this file is dist/cli/cluster/process.js). */
export const LAUNCHER = fileURLToPath(new URL('../../../bin/dynakv.js', import.meta.url));

export const STOP_GRACE_MS = 10_000;
export const HEALTH_TIMEOUT_MS = 30_000;

export type ProcState = 'running' | 'paused' | 'down';

/** True while `pid` exists and is not a zombie (EPERM: exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return statusChar(pid) !== 'Z';
}

/** The process's command line, or '' when it is gone (a zombie's is empty too). */
export function commandLine(pid: number): string {
  if (existsSync('/proc/self/cmdline')) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      return '';
    }
  }
  return psField(pid, 'args');
}

/** One-letter process state: R/S/D running or sleeping, T stopped, Z zombie, '' gone. */
function statusChar(pid: number): string {
  if (existsSync('/proc/self/stat')) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The name field may hold spaces and parentheses: the state follows the last ')'.
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return '';
    }
  }
  return psField(pid, 'stat').slice(0, 1);
}

/** Fallback where there is no /proc (macOS). */
function psField(pid: number, field: 'args' | 'stat'): string {
  try {
    return execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/**
 * A recorded PID is ours only if that process still runs dynakv with this
 * node's data dir: after a reboot or PID reuse we must not signal a stranger.
 */
export function isOurs(node: NodeRecord, pid: number | null = node.pid): pid is number {
  if (pid === null || pid <= 0) return false;
  const cmd = commandLine(pid);
  return cmd.includes('dynakv') && cmd.includes(node.dataDir);
}

export function procState(node: NodeRecord): ProcState {
  if (!isOurs(node)) return 'down';
  const c = statusChar(node.pid!);
  return c === 'T' || c === 't' ? 'paused' : 'running';
}

/** Sends `signal` if the recorded PID is still ours; false when the node is not running. */
export function signalNode(node: NodeRecord, signal: NodeJS.Signals): boolean {
  const pid = node.pid;
  if (!isOurs(node, pid)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Starts the node in its own session (Ctrl-C in the terminal must not reach it); returns its PID. */
export function spawnNode(node: NodeRecord, cwd: string): number {
  const log = openSync(node.logFile, 'a');
  try {
    writeSync(log, `--- dynakv cluster: starting ${node.id} at ${new Date().toISOString()}: ${node.argv.join(' ')}\n`);
    const child = spawn(node.argv[0]!, node.argv.slice(1), {
      cwd,
      detached: true,
      stdio: ['ignore', log, log],
      env: nodeEnv(process.env),
    });
    if (child.pid === undefined) throw new CliError(`could not start ${node.id}: ${node.argv[0]} did not spawn`);
    child.on('error', () => {}); // reported through the health wait instead
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The recorded argv alone defines a node: inherited DYNAKV_* variables would make restarts differ. */
export function nodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('DYNAKV_')));
}

/** Polls until the process is gone (or no longer ours); false on timeout. */
export async function waitGone(node: NodeRecord, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurs(node, pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

export type StopOutcome = 'not-running' | 'stopped' | 'killed';

/** SIGTERM (plus SIGCONT, so a paused node can act on it), then SIGKILL after `graceMs`. */
export async function stopNode(node: NodeRecord, graceMs = STOP_GRACE_MS): Promise<StopOutcome> {
  const pid = node.pid;
  if (!signalNode(node, 'SIGTERM')) return 'not-running';
  signalNode(node, 'SIGCONT');
  if (await waitGone(node, pid!, graceMs)) return 'stopped';
  signalNode(node, 'SIGKILL');
  if (await waitGone(node, pid!, 5_000)) return 'killed';
  throw new CliError(`${node.id} (pid ${pid}) survived SIGKILL`);
}

/** SIGKILL and wait until the kernel has removed it. */
export async function killNode(node: NodeRecord): Promise<boolean> {
  const pid = node.pid;
  if (!signalNode(node, 'SIGKILL')) return false;
  if (!(await waitGone(node, pid!, 5_000))) throw new CliError(`${node.id} (pid ${pid}) survived SIGKILL`);
  return true;
}

/** Resolves once GET /health is 200; fails fast, with the log tail, if the process dies first. */
export async function waitHealthy(node: NodeRecord, timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isOurs(node)) {
      throw new CliError(`${node.id} exited during startup. Last lines of ${node.logFile}:\n${await logTail(node.logFile)}`);
    }
    if (await healthy(node.api)) return;
    if (Date.now() >= deadline) {
      throw new CliError(
        `${node.id} not healthy after ${timeoutMs / 1000} s. Last lines of ${node.logFile}:\n${await logTail(node.logFile)}`,
      );
    }
    await sleep(100);
  }
}

export async function healthy(api: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    return (await http(`http://${api}/health`, { timeoutMs })).status === 200;
  } catch {
    return false;
  }
}

/** The last `lines` lines of a log file (reads at most the last 64 KiB). */
export async function logTail(file: string, lines = 25): Promise<string> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return '(no log file)';
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString('utf8').split('\n').filter((l) => l !== '').slice(-lines).map((l) => `  | ${l}`).join('\n');
  } finally {
    await fh.close();
  }
}
