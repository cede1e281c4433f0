/**
 * A watchdog process per test cluster. Nodes run detached (as `dynakv
 * cluster` makes them), so nothing kills them if the test worker is killed
 * outright (vitest timeouts, SIGKILL, crashes) — exit hooks do not run then.
 * The reaper polls the worker's PID; when the worker is gone it SIGKILLs every
 * node of the cluster whose command line still points into the cluster dir.
 */
import { spawn } from 'node:child_process';

// Plain CommonJS for `node -e`: the reaper must not depend on the build or a TS loader.
const SCRIPT = `
const fs = require('fs');
const { execFileSync } = require('child_process');
const [worker, dir, removeDir] = process.argv.slice(1);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const cmdline = (pid) => {
  try { return fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8'); } catch {}
  try { return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }); } catch { return ''; }
};
const pids = new Set();
const remember = () => {
  try { for (const n of JSON.parse(fs.readFileSync(dir + '/.dynakv/cluster.json', 'utf8')).nodes) if (n.pid) pids.add(n.pid); } catch {}
};
setInterval(() => {
  remember();
  if (alive(Number(worker))) return;
  for (const pid of pids) {
    const cmd = cmdline(pid);
    if (cmd.includes('dynakv') && cmd.includes(dir)) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  }
  // SIGKILLed nodes may hold files open a moment longer; rmSync copes with that on Linux.
  if (removeDir === '1') { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
}, 500);
`;

/** Starts the reaper for the cluster in `dir` (removing `dir` too if asked); returns a function that ends it. */
export function startReaper(dir: string, removeDir: boolean): () => void {
  const args = ['-e', SCRIPT, String(process.pid), dir, removeDir ? '1' : '0'];
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
  child.unref();
  return () => {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  };
}
