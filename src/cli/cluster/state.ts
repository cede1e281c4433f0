/**
 * The local cluster's state file, ./.dynakv/cluster.json. Every `dynakv
 * cluster` command reads it, so a cluster started in one terminal can be
 * driven from another. Writes are atomic (temp file + rename) and
 * read-modify-write cycles hold a small lock file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors.js';
import { processAlive } from './process.js';

export interface NodeRecord {
  id: string;
  index: number;
  /** host:port */
  api: string;
  peer: string;
  /** Absolute paths. */
  dir: string;
  dataDir: string;
  logFile: string;
  /** Full command line, reused verbatim by `cluster start nX`. */
  argv: string[];
  /** Last PID started for this node; may be dead. */
  pid: number | null;
  /** Set once `cluster leave` saw the node decommission itself. */
  left?: boolean;
}

export interface ClusterState {
  version: 1;
  /** Changes on every `cluster up`, so a `--foreground` process can tell its cluster was replaced. */
  clusterId: string;
  /** 'down' after `cluster down`. */
  status: 'up' | 'down';
  basePort: number;
  /** Extra flags every node gets (`cluster up -- …`), reused by `add`. */
  flags: string[];
  nodes: NodeRecord[];
  /** Current `cluster partition`: node id → ids it blocks; re-applied when a node restarts. */
  blocked: Record<string, string[]> | null;
}

export const STATE_DIR = '.dynakv';

export function stateDir(cwd: string = process.cwd()): string {
  return resolve(cwd, STATE_DIR);
}

export function statePath(cwd?: string): string {
  return join(stateDir(cwd), 'cluster.json');
}

/** The state, or undefined when no cluster was ever made here. */
export async function readState(cwd?: string): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(cwd), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as ClusterState;
  } catch {
    throw new CliError(`${statePath(cwd)} is not valid JSON; fix or delete it`);
  }
}

/** Like readState, but a missing cluster is an error telling the user what to do. */
export async function requireState(cwd?: string): Promise<ClusterState> {
  const state = await readState(cwd);
  if (!state) throw new CliError(`no local cluster here (${statePath(cwd)} not found); run \`dynakv cluster up\``);
  return state;
}

export async function writeState(state: ClusterState, cwd?: string): Promise<void> {
  await mkdir(stateDir(cwd), { recursive: true });
  const target = statePath(cwd);
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
}

/**
 * Read-modify-write under the lock. `change` gets the current state (or
 * undefined) and returns the new one. Keep `change` short: no waiting inside.
 */
export async function updateState(
  change: (state: ClusterState | undefined) => ClusterState | Promise<ClusterState>,
  cwd?: string,
): Promise<ClusterState> {
  return withLock(async () => {
    const next = await change(await readState(cwd));
    await writeState(next, cwd);
    return next;
  }, cwd);
}

const LOCK_WAIT_MS = 15_000;

async function withLock<T>(fn: () => Promise<T>, cwd?: string): Promise<T> {
  await mkdir(stateDir(cwd), { recursive: true });
  const lock = join(stateDir(cwd), 'cluster.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (!(await tryLock(lock))) {
    if (Date.now() > deadline) throw new CliError(`${lock} is held by another dynakv command; delete it if none is running`);
    await sleep(50);
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** O_EXCL create; a lock left by a dead process is taken over. */
async function tryLock(lock: string): Promise<boolean> {
  try {
    await writeFile(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
  // An empty file is a lock being written right now: not stale.
  if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) await rm(lock, { force: true });
  return false;
}

export function findNode(state: ClusterState, id: string): NodeRecord {
  const node = state.nodes.find((n) => n.id === id);
  if (!node) {
    throw new CliError(`unknown node ${id} (known: ${state.nodes.map((n) => n.id).join(', ')})`, 2);
  }
  return node;
}

export function replaceNode(state: ClusterState, node: NodeRecord): ClusterState {
  return { ...state, nodes: state.nodes.map((n) => (n.id === node.id ? node : n)) };
}
