/**
 * Real process clusters for integration tests, made with the `dynakv cluster`
 * tool in a temp dir on a random free base port (so test files can run in
 * parallel). Every PID a cluster ever had is killed on `stop()`, and again,
 * synchronously, when the test worker exits, whatever the tests did.
 *
 *   const c = await startCluster({ nodes: 3, flags: ['--sync', 'none'] });
 *   try { await c.cliOk(['cluster', 'kill', 'n3']); … } finally { await c.stop(); }
 *
 * Requires a build (`npm run build`): the nodes run dist/ via bin/dynakv.js.
 */
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeStatusRow } from '../../../src/cli/cluster/status.js';
import { afterAll } from 'vitest';
import { freeBasePort, releaseBasePort } from './ports.js';
import { alive, killVerified, ownedBy, waitDead } from './procs.js';
import { startReaper } from './reaper.js';
import { runCli, type CliResult, type RunOptions } from './run.js';

export { BIN, CLI_BUILT, NODE_BUILT, REPO_ROOT, runCli, spawnCli, type CliResult, type RunOptions, type SpawnedCli } from './run.js';
export { freeBasePort } from './ports.js';

export interface ClusterNode {
  id: string;
  /** host:port */
  api: string;
  peer: string;
  /** The PID the state file records now (changes on `cluster start|wipe`); null if never started. */
  pid: number | null;
  /** http://api */
  url: string;
}

export interface StartClusterOptions {
  /** Default 3. */
  nodes?: number;
  /** Flags for every node (`cluster up -- …`), e.g. ['--sync', 'none', '--anti-entropy', 'off']. */
  flags?: string[];
  /** Run in this dir (its ./.dynakv); default: a new temp dir, removed by stop(). */
  cwd?: string;
  /** Extra env for every CLI call. */
  env?: Record<string, string>;
  /** Keep the dir after stop() (also: DYNAKV_KEEP_TEST_DIRS=1). */
  keepDir?: boolean;
}

export interface TestCluster {
  /** The cwd of every CLI call; the cluster lives in `${dir}/.dynakv`. */
  readonly dir: string;
  readonly basePort: number;
  /** Fresh from the state file on every access. */
  readonly nodes: ClusterNode[];
  node(id: string): ClusterNode;
  /** `dynakv …args` in `dir` with this cluster's base port. Never throws for a non-zero exit. */
  cli(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** Like cli(), but throws (with stdout/stderr) unless the exit code is 0. */
  cliOk(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** `cluster status --json`. */
  status(): Promise<NodeStatusRow[]>;
  /** Last lines of a node's log, for failure messages. */
  logTail(id: string, lines?: number): string;
  /** Every PID this cluster has had. */
  pidsSeen(): number[];
  /** PIDs of this cluster still running. */
  alivePids(): number[];
  /** `cluster down`, then SIGKILL whatever is left, then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

interface StateFile {
  nodes: Array<{ id: string; api: string; peer: string; pid: number | null; logFile: string }>;
}

const live = new Set<ProcessCluster>();

/*
 * Three layers, so no test leaks a node: each test file's own afterAll calls
 * stop(); this module adds an afterAll to every file that imports it, for
 * clusters a test forgot; and a reaper process per cluster kills the nodes if
 * the worker itself dies (where neither hooks nor 'exit' handlers run).
 */
afterAll(() => stopAllClusters(), 60_000);
process.on('exit', () => {
  for (const c of live) c.killAllSync();
});

class ProcessCluster implements TestCluster {
  private readonly seen = new Set<number>();
  private stopped = false;
  private readonly endReaper: () => void;

  constructor(
    readonly dir: string,
    readonly basePort: number,
    private readonly env: Record<string, string>,
    private readonly ownsDir: boolean,
    private readonly keepDir: boolean,
  ) {
    live.add(this);
    this.endReaper = startReaper(dir, ownsDir && !keepDir && !process.env.DYNAKV_KEEP_TEST_DIRS);
  }

  get nodes(): ClusterNode[] {
    return (this.readState()?.nodes ?? []).map((n) => ({ id: n.id, api: n.api, peer: n.peer, pid: n.pid, url: `http://${n.api}` }));
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id} in ${this.dir}/.dynakv/cluster.json`);
    return node;
  }

  async cli(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
    const env = { DYNAKV_CLUSTER_BASE_PORT: String(this.basePort), ...this.env, ...opts.env };
    try {
      return await runCli(args, { ...opts, cwd: this.dir, env });
    } finally {
      this.readState(); // records any PID the command started
    }
  }

  async cliOk(args: readonly string[], opts?: RunOptions): Promise<CliResult> {
    const res = await this.cli(args, opts);
    if (res.code !== 0) {
      throw new Error(`dynakv ${args.join(' ')} exited ${res.code}\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
    }
    return res;
  }

  async status(): Promise<NodeStatusRow[]> {
    return JSON.parse((await this.cliOk(['cluster', 'status', '--json'])).stdout) as NodeStatusRow[];
  }

  logTail(id: string, lines = 40): string {
    const file = this.readState()?.nodes.find((n) => n.id === id)?.logFile;
    try {
      return file ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '(no such node)';
    } catch {
      return '(no log)';
    }
  }

  pidsSeen(): number[] {
    this.readState();
    return [...this.seen];
  }

  alivePids(): number[] {
    return this.pidsSeen().filter((pid) => alive(pid) && ownedBy(pid, this.dir));
  }

  stop(): Promise<void> {
    return this.shutdown(this.ownsDir && !this.keepDir && !process.env.DYNAKV_KEEP_TEST_DIRS);
  }

  /** stop(), with the choice of keeping the dir (a retried `startCluster` reuses it). */
  async shutdown(removeDir: boolean): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      if (this.readState()) await this.cli(['cluster', 'down'], { timeoutMs: 30_000 });
    } finally {
      this.killAllSync();
      await Promise.all(this.pidsSeen().map((pid) => waitDead(pid, 5_000)));
      live.delete(this);
      this.endReaper();
      releaseBasePort(this.basePort);
      if (removeDir) rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** SIGKILL every PID seen that still runs dynakv from this dir (never a reused PID). */
  killAllSync(): void {
    for (const pid of this.pidsSeen()) killVerified(pid, this.dir);
  }

  private readState(): StateFile | undefined {
    let state: StateFile;
    try {
      state = JSON.parse(readFileSync(join(this.dir, '.dynakv', 'cluster.json'), 'utf8')) as StateFile;
    } catch {
      return undefined; // absent, or mid-rename on some filesystems: the next read catches up
    }
    for (const n of state.nodes) if (n.pid) this.seen.add(n.pid);
    return state;
  }
}

/** `dynakv cluster up` in a temp dir on a free base port; retries if another test took the ports first. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const nodes = opts.nodes ?? 3;
  const ownsDir = opts.cwd === undefined;
  // Real path: the nodes' command lines (checked before any kill) hold the resolved cwd.
  const dir = realpathSync(opts.cwd ?? mkdtempSync(join(tmpdir(), 'dynakv-it-')));
  const flags = opts.flags ?? [];
  for (let attempt = 1; ; attempt++) {
    // Room for a few `cluster add` nodes too.
    const base = await freeBasePort(nodes + 4);
    const cluster = new ProcessCluster(dir, base, opts.env ?? {}, ownsDir, opts.keepDir ?? false);
    const args = ['cluster', 'up', '--nodes', String(nodes), ...(flags.length > 0 ? ['--', ...flags] : [])];
    const res = await cluster.cli(args, { timeoutMs: 90_000 }).catch((err: Error) => ({ code: null, stdout: '', stderr: err.message }));
    if (res.code === 0) return cluster;
    const logs = cluster.nodes.map((n) => `--- ${n.id} log:\n${cluster.logTail(n.id, 20)}`).join('\n');
    const retry = /in use:/.test(res.stderr) && attempt < 3;
    await cluster.shutdown(!retry && ownsDir && !opts.keepDir);
    if (retry) continue;
    throw new Error(`dynakv ${args.join(' ')} exited ${res.code}\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}\n${logs}`);
  }
}

/** Kills every cluster this worker still has (for an afterAll that wants certainty). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}
