/** Runs the built `dynakv` command as a child process and collects its output. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(REPO_ROOT, 'bin', 'dynakv.js');
/** The CLI can run (needs `npm run build`). */
export const CLI_BUILT = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
/** Nodes can run too. */
export const NODE_BUILT = CLI_BUILT && existsSync(join(REPO_ROOT, 'dist', 'node', 'node.js'));

export interface CliResult {
  /** null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Added to the environment; DYNAKV_* from the test runner's own environment are dropped. */
  env?: Record<string, string>;
  /** Written to stdin (for `put KEY -`). */
  input?: string | Buffer;
  /** Default 60 s; the CLI is then SIGKILLed and `code` is null. */
  timeoutMs?: number;
}

export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DYNAKV_')));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...inherited, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => {}); // the CLI may exit before reading stdin
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export interface SpawnedCli {
  readonly pid: number;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (rejects on exit or timeout, with the output). */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void>;
  signal(sig: NodeJS.Signals): void;
  /** Resolves when the process exits. */
  readonly exited: Promise<CliResult>;
}

/** A long-running `dynakv …` (e.g. `cluster up --foreground`). The caller must make sure it exits. */
export function spawnCli(args: readonly string[], opts: RunOptions = {}): SpawnedCli {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DYNAKV_')));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...inherited, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout: out, stderr: err })));
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    signal: (sig) => void (done || child.kill(sig)),
    exited,
    async waitForStdout(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (done || Date.now() > deadline) {
          throw new Error(`no ${pattern} in output of dynakv ${args.join(' ')}\nstdout:\n${out}\nstderr:\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
