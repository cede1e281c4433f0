/**
 * Cheap CPU accounting from /proc (Linux): CPU seconds of one process (all its
 * threads: JS, GC, libuv pool, LMDB's writer), and the whole machine's busy
 * time, so a phase can say where its cores went and how much other work (other
 * engineers' tests) shared the machine. Elsewhere every reading is undefined.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

let clockTicks: number | undefined;

/** USER_HZ, the unit of /proc times (100 nearly everywhere). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process in seconds; undefined when it is gone or there is no /proc. */
export function processCpuSeconds(pid: number | 'self'): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and ')': fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state(3) ppid(4) … utime(14) stime(15), i.e. indices 11 and 12 here.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / ticksPerSecond();
}

/**
 * I/O counters of a process (all threads): read-like and write-like syscalls.
 * (write_bytes is left out on purpose: kernels with large page-cache folios
 * account a whole folio per dirtied page, 10× more than the device sees.)
 */
export interface IoCounters {
  syscr: number;
  syscw: number;
}

export function processIo(pid: number | 'self'): IoCounters | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}: (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const out = { syscr: field('syscr'), syscw: field('syscw') };
  return Number.isFinite(out.syscr) && Number.isFinite(out.syscw) ? out : undefined;
}

export interface MachineTimes {
  /** CPU seconds spent busy (user, nice, system, irq, softirq, steal), summed over all CPUs. */
  busy: number;
  /** CPU seconds in all states, summed over all CPUs. */
  total: number;
}

export function machineTimes(): MachineTimes | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.slice(0, text.indexOf('\n'));
  if (!line.startsWith('cpu ')) return undefined;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const hz = ticksPerSecond();
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / hz, total: (busy + idle + iowait) / hz };
}

/** A CPU snapshot of a set of processes plus the machine, taken at the start of a measured window. */
export interface CpuSnapshot {
  atMs: number;
  pids: Map<number, number | undefined>;
  io: Map<number, IoCounters | undefined>;
  self: number | undefined;
  machine: MachineTimes | undefined;
}

export interface CpuUsage {
  wallSeconds: number;
  /** CPU seconds per watched process, by label. */
  processes: Record<string, number | null>;
  /** I/O counter deltas per watched process, by label (null where /proc/<pid>/io is unreadable). */
  io: Record<string, IoCounters | null>;
  /** CPU seconds of the bench process itself (the load generator). */
  loadGenerator: number | null;
  /** Cores the whole machine used on average during the window. */
  machineCores: number | null;
  /** machineCores minus our processes: somebody else's work on the machine. */
  otherCores: number | null;
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  return {
    atMs: performance.now(),
    pids: new Map(pids.map((p) => [p, processCpuSeconds(p)])),
    io: new Map(pids.map((p) => [p, processIo(p)])),
    self: processCpuSeconds('self'),
    machine: machineTimes(),
  };
}

export function cpuSince(start: CpuSnapshot, labels: ReadonlyMap<number, string>): CpuUsage {
  const end = cpuSnapshot([...start.pids.keys()]);
  const wallSeconds = (end.atMs - start.atMs) / 1000;
  const processes: Record<string, number | null> = {};
  const io: Record<string, IoCounters | null> = {};
  for (const [pid, before] of start.io) {
    const after = end.io.get(pid);
    io[labels.get(pid) ?? String(pid)] =
      before === undefined || after === undefined
        ? null
        : { syscr: after.syscr - before.syscr, syscw: after.syscw - before.syscw };
  }
  let ours = 0;
  let oursKnown = true;
  for (const [pid, before] of start.pids) {
    const after = end.pids.get(pid);
    const used = before === undefined || after === undefined ? null : after - before;
    processes[labels.get(pid) ?? String(pid)] = used;
    if (used === null) oursKnown = false;
    else ours += used;
  }
  const loadGenerator = start.self === undefined || end.self === undefined ? null : end.self - start.self;
  if (loadGenerator === null) oursKnown = false;
  else ours += loadGenerator;
  let machineCores: number | null = null;
  let otherCores: number | null = null;
  if (start.machine !== undefined && end.machine !== undefined && wallSeconds > 0) {
    const busy = end.machine.busy - start.machine.busy;
    machineCores = busy / wallSeconds;
    if (oursKnown) otherCores = Math.max(0, (busy - ours) / wallSeconds);
  }
  const r3 = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
  for (const k of Object.keys(processes)) processes[k] = r3(processes[k] ?? null);
  return {
    wallSeconds: r3(wallSeconds)!,
    processes,
    io,
    loadGenerator: r3(loadGenerator),
    machineCores: r3(machineCores),
    otherCores: r3(otherCores),
  };
}

/** Busy cores of the whole machine over the next `ms` (this process included); undefined without /proc. */
export async function machineBusyCores(ms: number): Promise<number | undefined> {
  const a = machineTimes();
  const self0 = processCpuSeconds('self');
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = machineTimes();
  const self1 = processCpuSeconds('self');
  if (a === undefined || b === undefined) return undefined;
  const ours = self0 !== undefined && self1 !== undefined ? self1 - self0 : 0;
  return Math.max(0, (b.busy - a.busy - ours) / ((performance.now() - t0) / 1000));
}

const LMDB_MAGIC = 0xbeefc0de;
/** Offsets in an lmdb-js 3.x (LMDB 1.0 format) meta page: 24-byte page header, then mm_magic … mm_last_pg, mm_txnid. */
const LMDB_META_MAGIC_AT = 24;
const LMDB_META_TXNID_AT = 152;

/**
 * The last committed transaction id of an LMDB environment, read from its two
 * meta pages (what LMDB readers do), so the bench can count commits of a node
 * from outside. Undefined when the file is missing or its layout is not the
 * one this reader knows (then the column just shows '?').
 */
export function lmdbLastTxnId(dataFile: string, pageSize = 4096): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(dataFile, 'r');
    const buf = Buffer.alloc(pageSize * 2);
    if (readSync(fd, buf, 0, buf.length, 0) < buf.length) return undefined;
    let best: number | undefined;
    for (const base of [0, pageSize]) {
      if (buf.readUInt32LE(base + LMDB_META_MAGIC_AT) !== LMDB_MAGIC) return undefined;
      const txnid = Number(buf.readBigUInt64LE(base + LMDB_META_TXNID_AT));
      if (best === undefined || txnid > best) best = txnid;
    }
    return best;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
