/** `dynakv cluster status`: process state plus what each node reports about itself. */
import { relative } from 'node:path';
import { getJson } from '../http.js';
import { formatTable } from '../table.js';
import { procState } from './process.js';
import type { ClusterState, NodeRecord } from './state.js';

/** UNREACHABLE: the process runs but does not answer (starting, overloaded or hung). */
export type NodeState = 'UP' | 'DOWN' | 'PAUSED' | 'UNREACHABLE' | 'LEFT';

export interface NodeStatusRow {
  id: string;
  state: NodeState;
  api: string;
  peer: string;
  pid: number | null;
  /** The rest come from the node itself; null when it did not answer. */
  partitions: number | null;
  keys: number | null;
  hintsPending: number | null;
  transfers: { active: number; pending: number } | null;
  /** Outbound transfers this node is running, with their progress. */
  outbound: TransferRow[];
  /** Node ids this node currently blocks (`cluster partition`), as recorded by the manager. */
  blocked: string[];
}

export interface TransferRow {
  partition: number;
  from: string;
  to: string;
  state: string;
  pass: number;
  keys: number;
  bytes: number;
  rateBytesPerSecond: number;
}

interface AdminStatus {
  storage?: { keys?: number };
  hints?: { pending?: number };
  transfers?: { active?: number; pending?: number; outbound?: TransferRow[] };
}

interface Ring {
  owners?: string[];
}

const STATUS_TIMEOUT_MS = 2_000;

export async function collectStatus(state: ClusterState): Promise<NodeStatusRow[]> {
  return Promise.all(state.nodes.map((n) => nodeStatus(n, state.blocked?.[n.id] ?? [])));
}

async function nodeStatus(node: NodeRecord, blocked: string[]): Promise<NodeStatusRow> {
  const base = { id: node.id, api: node.api, peer: node.peer, pid: node.pid, blocked };
  const empty = { partitions: null, keys: null, hintsPending: null, transfers: null, outbound: [] };
  const proc = procState(node);
  // A SIGSTOPped node would only time out: do not ask it.
  if (proc !== 'running') return { ...base, ...empty, state: node.left ? 'LEFT' : proc === 'paused' ? 'PAUSED' : 'DOWN' };
  const [status, ring] = await Promise.all([
    getJson<AdminStatus>(`http://${node.api}/v1/admin/status`, STATUS_TIMEOUT_MS),
    getJson<Ring>(`http://${node.api}/v1/cluster/ring`, STATUS_TIMEOUT_MS),
  ]);
  if (!status && !ring) return { ...base, ...empty, state: 'UNREACHABLE' };
  return {
    ...base,
    state: 'UP',
    partitions: ring?.owners ? ring.owners.filter((o) => o === node.id).length : null,
    keys: status?.storage?.keys ?? null,
    hintsPending: status?.hints?.pending ?? null,
    transfers: status?.transfers ? { active: status.transfers.active ?? 0, pending: status.transfers.pending ?? 0 } : null,
    outbound: Array.isArray(status?.transfers?.outbound) ? status.transfers.outbound : [],
  };
}

export function renderStatus(rows: readonly NodeStatusRow[]): string {
  const dash = (v: number | null): string => (v === null ? '-' : String(v));
  const table = formatTable(
    ['NODE', 'STATE', 'API', 'PEER', 'PID', 'PARTITIONS', 'KEYS', 'HINTS', 'TRANSFERS', 'BLOCKED'],
    rows.map((r) => [
      r.id,
      r.state,
      r.api,
      r.peer,
      r.state === 'DOWN' || r.state === 'LEFT' ? '-' : dash(r.pid),
      dash(r.partitions),
      dash(r.keys),
      dash(r.hintsPending),
      r.transfers ? `${r.transfers.active}/${r.transfers.pending}` : '-',
      r.blocked.length > 0 ? r.blocked.join(',') : '-',
    ]),
  );
  const up = rows.filter((r) => r.state === 'UP').length;
  const running = rows.flatMap((r) => r.outbound);
  const progress = running.length === 0 ? '' : `\n\nTransfers running:\n${renderTransfers(running)}`;
  return `${table}\n\n${up}/${rows.length} up; PARTITIONS as each node sees the ring; TRANSFERS active/pending${progress}`;
}

/** One line per running transfer: partition, direction, pass, keys, MB, rate. */
export function renderTransfers(rows: readonly TransferRow[]): string {
  return formatTable(
    ['PARTITION', 'FROM', 'TO', 'STATE', 'PASS', 'KEYS', 'MB', 'MB/S'],
    rows.map((t) => [
      String(t.partition),
      t.from,
      t.to,
      t.state,
      t.pass > 1 ? `${t.pass} (verify)` : String(t.pass),
      String(t.keys),
      (t.bytes / 1e6).toFixed(2),
      (t.rateBytesPerSecond / 1e6).toFixed(2),
    ]),
  );
}

/** The table `cluster up` and `npm start` print: where to reach each node. */
export function renderNodeTable(state: ClusterState, cwd: string = process.cwd()): string {
  return formatTable(
    ['NODE', 'API', 'PEER', 'PID', 'LOG'],
    state.nodes
      .filter((n) => !n.left)
      .map((n) => [n.id, `http://${n.api}`, n.peer, String(n.pid ?? '-'), relative(cwd, n.logFile)]),
  );
}
