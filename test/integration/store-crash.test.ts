/**
 * Guarantee 5 at the process level: a writer SIGKILLed in the middle of a run
 * loses no write it acknowledged. The child (fixtures/lmdb-writer.mjs) runs the
 * built LmdbStore from dist/, so this needs `npm run build` first (`npm test`
 * and `npm run test:integration` do that).
 *
 * SIGKILL leaves the OS page cache intact, so this checks what the process
 * controls: a put resolves only after its transaction is committed, and
 * reopening after a kill recovers it. That the commit was also fsync'd (power
 * loss) is not observable here; the adapter's doc comment records how it was checked.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LmdbStore } from '../../src/adapters/lmdb-store.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/lmdb-writer.mjs', import.meta.url));
const BUILT = join(REPO_ROOT, 'dist', 'adapters', 'lmdb-store.js');
const SOURCE = join(REPO_ROOT, 'src', 'adapters', 'lmdb-store.ts');
const KEYS = 500;
const CHILD_TIMEOUT_MS = 30_000;

interface Run {
  acknowledged: string[];
  finished: boolean;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the writer and SIGKILLs it once `killAfter` keys are acknowledged. */
function runWriter(path: string, killAfter: number): Promise<Run> {
  const child = spawn(process.execPath, [FIXTURE, path, String(KEYS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { acknowledged: [], finished: false, signal: null, stderr: '' };
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!; // a line without its newline yet is not counted
    for (const line of lines) {
      if (line === 'done') run.finished = true;
      else run.acknowledged.push(line);
    }
    if (run.acknowledged.length >= killAfter) child.kill('SIGKILL');
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      run.signal = signal;
      resolve(run);
    });
  });
}

describe('LmdbStore survives SIGKILL of its process', () => {
  const dirs: string[] = [];

  beforeAll(() => {
    if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs) {
      throw new Error(`${BUILT} is missing or older than its source: run \`npm run build\` first`);
    }
  });

  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it.each([60, 250])('keeps every write acknowledged before a kill after %i acks', async (killAfter) => {
    const dir = await mkdtemp(join(tmpdir(), 'dynakv-crash-'));
    dirs.push(dir);
    const path = join(dir, 'db');
    const run = await runWriter(path, killAfter);
    expect(run.stderr).toBe('');
    expect(run.signal).toBe('SIGKILL');
    expect(run.finished).toBe(false); // killed mid-way, not after the last write
    expect(run.acknowledged.length).toBeGreaterThanOrEqual(killAfter);

    const store = LmdbStore.open(path, { sync: 'fsync' });
    try {
      const missing = run.acknowledged.filter((key) => store.get(Number(key.slice(4)) % 8, key) === undefined);
      expect(missing).toEqual([]);
      for (const key of run.acknowledged) {
        const value = store.get(Number(key.slice(4)) % 8, key)!.siblings[0]!.value;
        expect(Buffer.from(value).toString('utf8')).toBe(`value-${key.slice(4)}-`.padEnd(1024, 'x'));
      }
      await store.put(0, 'after-crash', store.get(0, 'key-0')!); // still writable
    } finally {
      await store.close();
    }
  });
});
