/** Process checks for test cleanup: only ever signal a PID that still runs dynakv from our temp dir. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function commandLine(pid: number): string {
  if (existsSync('/proc/self/cmdline')) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      return '';
    }
  }
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** Exists and is not a zombie (a zombie's command line is empty). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return commandLine(pid) !== '';
}

/** The PID runs dynakv with a path under `dir` (its --data), so it is a node of that cluster. */
export function ownedBy(pid: number, dir: string): boolean {
  const cmd = commandLine(pid);
  return cmd.includes('dynakv') && cmd.includes(dir);
}

export function killVerified(pid: number, dir: string): void {
  if (!ownedBy(pid, dir)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function waitDead(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
