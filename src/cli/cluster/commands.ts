/**
 * `dynakv cluster …`: the local cluster manager (ccm / Riak devrel for dynakv).
 * Nodes run as detached processes; everything about them lives in
 * ./.dynakv/cluster.json, so each subcommand works from any terminal.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  clusterBasePort,
  MAX_CLUSTER_NODES,
  nodeLayout,
  partitionPlan,
  UsageError,
  validateNodeFlags,
  type NodeLayout,
} from '../args.js';
import { hasLeftMarker } from '../../node/left-marker.js';
import { CliError } from '../errors.js';
import { describeError, http } from '../http.js';
import {
  isOurs,
  killNode,
  LAUNCHER,
  procState,
  signalNode,
  spawnNode,
  STOP_GRACE_MS,
  stopNode,
  waitGone,
  waitHealthy,
  type ProcState,
} from './process.js';
import {
  findNode,
  readState,
  replaceNode,
  requireState,
  stateDir,
  updateState,
  type ClusterState,
  type NodeRecord,
} from './state.js';
import { collectStatus, renderNodeTable, renderStatus } from './status.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

export interface UpOptions {
  nodes: number;
  /** Flags every node gets (after `--`). */
  flags: string[];
  foreground: boolean;
  /** Delete the node directories (data and logs) of any previous cluster first. */
  clean: boolean;
}

export async function up(opts: UpOptions): Promise<void> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_CLUSTER_NODES) {
    throw new UsageError(`--nodes: expected 1..${MAX_CLUSTER_NODES}`);
  }
  const flags = validateNodeFlags(opts.flags);
  const base = clusterBasePort(process.env);
  const layouts = Array.from({ length: opts.nodes }, (_, i) => nodeLayout(i + 1, base));
  const state = await updateState(async (prev) => {
    assertNothingRunning(prev);
    await assertPortsFree(layouts);
    if (opts.clean) await removeNodeDirs(prev);
    const seeds = layouts.map((l) => l.peer);
    const nodes = layouts.map((l) => newNode(l, seeds, flags));
    await launchAll(nodes);
    return { version: 1, clusterId: randomUUID(), status: 'up', basePort: base, flags, nodes, blocked: null };
  });
  await waitAllHealthy(state.nodes);
  out(renderNodeTable(state));
  const dynakv = selfCommand();
  out(`\n${state.nodes.length} nodes up. Try: ${dynakv} put greeting hello; ${dynakv} get greeting; ${dynakv} cluster status`);
  if (opts.foreground) await foreground(state.clusterId);
}

/** How to call us from here: `dynakv` when installed, `node bin/dynakv.js` in a checkout (npm start). */
function selfCommand(): string {
  const rel = relative(process.cwd(), LAUNCHER);
  return rel.startsWith('..') || isAbsolute(rel) ? 'dynakv' : `node ${rel}`;
}

function assertNothingRunning(prev: ClusterState | undefined): void {
  const running = (prev?.nodes ?? []).filter((n) => isOurs(n));
  if (running.length > 0) {
    const list = running.map((n) => `${n.id} pid ${n.pid}`).join(', ');
    throw new CliError(`a cluster is already running here (${list}); run \`dynakv cluster down\` first`);
  }
}

async function removeNodeDirs(prev: ClusterState | undefined): Promise<void> {
  for (const n of prev?.nodes ?? []) await rm(n.dir, { recursive: true, force: true });
}

/** Checked up front so a busy port is one clear line instead of a node log to dig through. */
async function assertPortsFree(layouts: readonly NodeLayout[]): Promise<void> {
  const addrs = layouts.flatMap((l) => [l.api, l.peer]);
  const busy = (await Promise.all(addrs.map(async (a) => ((await portFree(a)) ? null : a)))).filter((a) => a !== null);
  if (busy.length > 0) {
    throw new CliError(`in use: ${busy.join(', ')}; stop what listens there or set DYNAKV_CLUSTER_BASE_PORT`);
  }
}

function portFree(addr: string): Promise<boolean> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function newNode(layout: NodeLayout, seeds: readonly string[], flags: readonly string[]): NodeRecord {
  const dir = join(stateDir(), layout.id);
  const dataDir = join(dir, 'data');
  const args = ['start', '--id', layout.id, '--api', layout.api, '--peer', layout.peer, '--seeds', seeds.join(',')];
  return {
    ...layout,
    dir,
    dataDir,
    logFile: join(dir, 'node.log'),
    argv: [process.execPath, LAUNCHER, ...args, '--data', dataDir, '--fault-injection', ...flags],
    pid: null,
  };
}

/** Spawns the node and records its PID on the record (callers persist it). */
async function launch(node: NodeRecord): Promise<NodeRecord> {
  await mkdir(node.dir, { recursive: true });
  node.pid = spawnNode(node, dirname(stateDir()));
  return node;
}

/** Either every node is spawned, or none is left running. */
async function launchAll(nodes: NodeRecord[]): Promise<void> {
  try {
    for (const node of nodes) await launch(node);
  } catch (err) {
    await Promise.all(nodes.map((n) => killNode(n).catch(() => false)));
    throw err;
  }
}

/** All healthy, or (at the first failure) every node stopped again and that failure reported. */
async function waitAllHealthy(nodes: readonly NodeRecord[]): Promise<void> {
  try {
    await Promise.all(nodes.map((n) => waitHealthy(n)));
  } catch (err) {
    await Promise.all(nodes.map((n) => stopNode(n, 2_000)));
    throw new CliError(`${(err as Error).message}\nstopped every node of this cluster again`);
  }
}

/**
 * `--foreground` (npm start): wait for Ctrl-C, then stop every node the state
 * file lists at that moment. Never acts on a node dying or being restarted
 * from another terminal; leaves quietly if the cluster is taken down elsewhere.
 */
async function foreground(clusterId: string): Promise<void> {
  out('\nRunning in the foreground: Ctrl-C stops every node.');
  out(`From another terminal: ${selfCommand()} cluster status | stop nX | kill nX | pause nX | partition n1 n2,n3 | heal`);
  const reason = await new Promise<string>((resolve) => {
    const done = (why: string): void => {
      clearInterval(timer);
      process.off('SIGINT', done).off('SIGTERM', done);
      resolve(why);
    };
    const timer = setInterval(() => void replacedOrDown(clusterId).then((why) => why && done(why)), 2_000);
    process.on('SIGINT', done).on('SIGTERM', done);
  });
  if (!reason.startsWith('SIG')) return out(reason);
  // A second Ctrl-C means "now": SIGKILL whatever is still running.
  const hurry = (): void => void hardKillAll().then(() => process.exit(130));
  process.once('SIGINT', hurry).once('SIGTERM', hurry);
  out('\nStopping every node (a second Ctrl-C kills them)…');
  await down();
}

async function replacedOrDown(clusterId: string): Promise<string | undefined> {
  const state = await readState().catch(() => undefined);
  if (!state) return 'the cluster state file is gone; exiting (nodes, if any, were left as they are)';
  if (state.clusterId !== clusterId) return 'another `dynakv cluster up` replaced this cluster; exiting';
  if (state.status === 'down') return 'the cluster was taken down from another terminal; exiting';
  return undefined;
}

async function hardKillAll(): Promise<void> {
  const state = await readState();
  await Promise.all((state?.nodes ?? []).map((n) => killNode(n).catch(() => false)));
}

export async function down(): Promise<void> {
  const state = await requireState();
  await Promise.all(
    state.nodes.map(async (n) => {
      const outcome = await stopNode(n);
      if (outcome === 'stopped') out(`${n.id}: stopped`);
      if (outcome === 'killed') warn(`${n.id}: did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM; killed`);
    }),
  );
  await updateState((s) => ({ ...(s ?? state), status: 'down', blocked: null }));
  out('cluster down');
}

export async function status(json: boolean): Promise<void> {
  const rows = await collectStatus(await requireState());
  out(json ? JSON.stringify(rows, null, 2) : renderStatus(rows));
}

export async function add(): Promise<void> {
  let added: NodeRecord | undefined;
  await updateState(async (prev) => {
    const state = requireLoaded(prev);
    const index = Math.max(0, ...state.nodes.map((n) => n.index)) + 1;
    const layout = nodeLayout(index, state.basePort);
    await assertPortsFree([layout]);
    const seeds = state.nodes.filter((n) => !n.left).map((n) => n.peer);
    added = await launch(newNode(layout, seeds, state.flags));
    return { ...state, nodes: [...state.nodes, added] };
  });
  await waitHealthy(added!);
  out(`${added!.id} started and joining: http://${added!.api} (pid ${added!.pid})`);
}

function requireLoaded(state: ClusterState | undefined): ClusterState {
  if (!state) throw new CliError('no local cluster here (.dynakv/cluster.json not found); run `dynakv cluster up`');
  return state;
}

/** Admin requests (leave, remove): the node answers at once, work goes on after. */
const LEAVE_REQUEST_TIMEOUT_MS = 10_000;
/** How long `remove` waits for the others to see a stopped node as dead (suspicion lasts seconds). */
const REMOVE_WAIT_DEAD_MS = 30_000;

export async function leave(id: string, timeoutMs: number): Promise<void> {
  const node = findNode(await requireState(), id);
  assertRunning(node, procState(node));
  const res = await postAdmin(node, '/v1/admin/leave');
  if (res.status === 404) throw new CliError('leave not supported by this node version');
  if (res.status < 200 || res.status > 299) throw new CliError(`${id}: leave failed: ${describeError(res)}`);
  out(`${id} is leaving: its partitions move to their new owners, then it stops…`);
  if (!(await waitGone(node, node.pid!, timeoutMs))) {
    throw new CliError(`${id} still running after ${timeoutMs / 1000} s; watch \`dynakv cluster status\``);
  }
  if (!hasLeftMarker(node.dataDir)) {
    throw new CliError(`${id} stopped before it finished leaving (killed?); \`dynakv cluster start ${id}\` resumes the leave`);
  }
  await updateState((s) => replaceNode(requireLoaded(s), { ...findNode(requireLoaded(s), id), left: true }));
  out(`${id} has left the cluster`);
}

/**
 * Force-remove: for a node whose process is gone and will not come back (a
 * lost disk). Asked of any running member, which declares it `left`; the
 * claimant then moves its partitions, streaming them from surviving replicas.
 */
export async function remove(id: string): Promise<void> {
  const state = await requireState();
  const node = findNode(state, id);
  if (node.left) return out(`${id} has already left the cluster`);
  if (procState(node) !== 'down') throw new CliError(`${id} is running: \`dynakv cluster leave ${id}\` decommissions it with its data; remove is for a node that is gone for good`);
  const peers = state.nodes.filter((n) => n.id !== id && !n.left && procState(n) === 'running');
  if (peers.length === 0) throw new CliError('no running node to ask');
  // Asked of every running node, so the removal survives one of them going down before its gossip spread it.
  const deadline = Date.now() + REMOVE_WAIT_DEAD_MS;
  let accepted = 0;
  let refusal = 'no running node answered';
  for (const peer of peers) {
    const answer = await askRemove(peer, id, deadline);
    if (answer === 'accepted') accepted++;
    else refusal = answer;
  }
  if (accepted === 0) throw new CliError(`${id}: remove failed: ${refusal}`);
  await updateState((s) => replaceNode(requireLoaded(s), { ...findNode(requireLoaded(s), id), left: true }));
  out(`${id} removed: its partitions move to the other nodes, streamed from surviving replicas (watch \`dynakv cluster status\`)`);
}

/**
 * POST /v1/admin/remove/{id} on `peer`: 'accepted', or why not. A node only
 * removes a member it sees as dead (right after a kill it is suspect for a
 * few seconds), so a 400 is asked again, once a second, until `deadline`.
 */
async function askRemove(peer: NodeRecord, id: string, deadline: number): Promise<'accepted' | string> {
  for (;;) {
    const res = await postAdmin(peer, `/v1/admin/remove/${encodeURIComponent(id)}`).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    if (typeof res === 'string') return `${peer.id}: ${res}`;
    if (res.status >= 200 && res.status <= 299) return 'accepted';
    if (res.status !== 400 || Date.now() >= deadline) return `${peer.id}: ${describeError(res)}`;
    await sleep(1000);
  }
}

/** An admin POST (empty JSON body) to `node`'s API. */
function postAdmin(node: NodeRecord, path: string): ReturnType<typeof http> {
  return http(`http://${node.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs: LEAVE_REQUEST_TIMEOUT_MS });
}

function assertRunning(node: NodeRecord, state: ProcState): void {
  if (state === 'down') throw new CliError(`${node.id} is not running`);
  if (state === 'paused') throw new CliError(`${node.id} is paused; \`dynakv cluster resume ${node.id}\` first`);
}

export async function stop(id: string): Promise<void> {
  const node = findNode(await requireState(), id);
  const outcome = await stopNode(node);
  if (outcome === 'not-running') return out(`${id} is not running`);
  if (outcome === 'killed') warn(`${id} did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM; killed`);
  out(`${id} stopped`);
}

export async function start(id: string): Promise<void> {
  let started: NodeRecord | undefined;
  let blocked: string[] = [];
  await updateState(async (prev) => {
    const state = requireLoaded(prev);
    const node = findNode(state, id);
    if (node.left) throw new CliError(`${id} has left the cluster; \`dynakv cluster add\` makes a new node`);
    if (isOurs(node)) return state;
    blocked = state.blocked?.[id] ?? [];
    started = await launch({ ...node });
    return replaceNode(state, started);
  });
  if (!started) {
    const node = findNode(await requireState(), id);
    return out(`${id} is already running (pid ${node.pid})`);
  }
  await waitHealthy(started);
  await reapplyFault(started, blocked, false);
  out(`${id} started (pid ${started.pid})`);
}

export async function kill(id: string): Promise<void> {
  const node = findNode(await requireState(), id);
  if (!(await killNode(node))) return out(`${id} is not running`);
  out(`${id} killed (SIGKILL, pid ${node.pid})`);
}

export async function pause(id: string): Promise<void> {
  const node = findNode(await requireState(), id);
  const state = procState(node);
  if (state === 'paused') return out(`${id} is already paused`);
  assertRunning(node, state);
  signalNode(node, 'SIGSTOP');
  await waitProcState(node, 'paused');
  out(`${id} paused (SIGSTOP, pid ${node.pid})`);
}

export async function resume(id: string): Promise<void> {
  const state = await requireState();
  const node = findNode(state, id);
  if (procState(node) === 'down') throw new CliError(`${id} is not running`);
  signalNode(node, 'SIGCONT');
  await waitProcState(node, 'running');
  // It may have slept through a partition or heal: tell it the current one.
  await reapplyFault(node, state.blocked?.[id] ?? [], true);
  out(`${id} resumed (SIGCONT, pid ${node.pid})`);
}

/** Signals are delivered asynchronously: wait until /proc shows the effect, so a following `status` agrees. */
async function waitProcState(node: NodeRecord, want: ProcState): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (procState(node) !== want && Date.now() < deadline) await sleep(10);
}

export async function wipe(id: string): Promise<void> {
  const node = findNode(await requireState(), id);
  if (node.left) throw new CliError(`${id} has left the cluster`);
  const outcome = await stopNode(node);
  if (outcome === 'killed') warn(`${id} did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM; killed`);
  await rm(node.dataDir, { recursive: true, force: true });
  out(`${id}: data deleted (${node.dataDir})`);
  await start(id);
}

export async function partition(groups: readonly string[]): Promise<void> {
  const state = await requireState();
  const active = state.nodes.filter((n) => !n.left);
  const plan = partitionPlan(groups, active.map((n) => n.id));
  for (const node of active) await sendFault(node, plan.get(node.id) ?? []);
  await updateState((s) => ({ ...requireLoaded(s), blocked: Object.fromEntries(plan) }));
  const sides = groups.length === 1 ? [groups[0]!, plan.get(groups[0]!.split(',')[0]!.trim())!.join(',')] : groups;
  out(`partitioned: ${sides.join(' | ')} (internode traffic between the groups is dropped; \`dynakv cluster heal\` restores it)`);
}

export async function heal(): Promise<void> {
  const state = await requireState();
  for (const node of state.nodes.filter((n) => !n.left)) await sendFault(node, []);
  await updateState((s) => ({ ...requireLoaded(s), blocked: null }));
  out('healed: every node talks to every node again');
}

/** Running nodes get the fault now; others get it from `start`/`resume`. */
async function sendFault(node: NodeRecord, blocked: readonly string[]): Promise<void> {
  const state = procState(node);
  if (state !== 'running') {
    return warn(`${node.id} is ${state === 'paused' ? 'paused' : 'not running'}: it gets this setting when resumed or started`);
  }
  const res = await postFault(node, blocked);
  if (res.status === 404) {
    throw new CliError(`${node.id}: fault injection not supported by this node version (or it was started without --fault-injection)`);
  }
  if (res.status < 200 || res.status > 299) throw new CliError(`${node.id}: fault hook failed: ${describeError(res)}`);
}

function postFault(node: NodeRecord, blocked: readonly string[]) {
  return http(`http://${node.api}/v1/admin/fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ blocked }),
    timeoutMs: 5_000,
  });
}

/** After a restart or resume: best effort, a warning instead of a failure. */
async function reapplyFault(node: NodeRecord, blocked: readonly string[], evenIfEmpty: boolean): Promise<void> {
  if (blocked.length === 0 && !evenIfEmpty) return;
  try {
    const res = await postFault(node, blocked);
    if (res.status === 404 && blocked.length === 0) return;
    if (res.status < 200 || res.status > 299) warn(`${node.id}: could not re-apply partition: ${describeError(res)}`);
    else if (blocked.length > 0) out(`${node.id}: re-applied partition (blocks ${blocked.join(',')})`);
  } catch (err) {
    warn(`${node.id}: could not re-apply partition: ${(err as Error).message}`);
  }
}
