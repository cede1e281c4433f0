/**
 * Cheap CPU accounting from /proc (Linux): CPU seconds of one process (all its
 * threads: JS, GC, libuv pool, LMDB's writer), and the whole machine's busy
 * time, so a phase can say where its cores went and how much other work (other
 * engineers' tests) shared the machine. Elsewhere every reading is undefined.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
  self: number | undefined;
  machine: MachineTimes | undefined;
}

export interface CpuUsage {
  wallSeconds: number;
  /** CPU seconds per watched process, by label. */
  processes: Record<string, number | null>;
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
    self: processCpuSeconds('self'),
    machine: machineTimes(),
  };
}

export function cpuSince(start: CpuSnapshot, labels: ReadonlyMap<number, string>): CpuUsage {
  const end = cpuSnapshot([...start.pids.keys()]);
  const wallSeconds = (end.atMs - start.atMs) / 1000;
  const processes: Record<string, number | null> = {};
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
  return { wallSeconds, processes, loadGenerator, machineCores, otherCores };
}
