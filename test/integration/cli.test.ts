/**
 * The `dynakv` command: flag parsing (pure), the built binary's exit codes,
 * and a real 3-node local cluster driven through `dynakv cluster …`.
 */
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStartArgv, resolveStartOptions, UsageError } from '../../src/cli/args.js';
import type { NodeStatusRow } from '../../src/cli/cluster/status.js';
import {
  CLI_BUILT,
  freeBasePort,
  NODE_BUILT,
  runCli,
  spawnCli,
  startCluster,
  stopAllClusters,
  type TestCluster,
} from './helpers/cluster.js';
import { alive, killVerified } from './helpers/procs.js';

const REQUIRED = ['--id', 'n1', '--api', '127.0.0.1:7001', '--peer', '127.0.0.1:7101', '--data', 'd'];

describe('start flags and DYNAKV_* env vars', () => {
  it('a flag wins over its env var, env fills what flags leave out', () => {
    const env = { DYNAKV_SYNC: 'none', DYNAKV_REPLICAS: '5', DYNAKV_ANTI_ENTROPY: 'off' };
    const opts = parseStartArgv([...REQUIRED, '--replicas', '2'], env);
    expect(opts).toMatchObject({ replicas: 2, sync: 'none', antiEntropy: false, hintedHandoff: true });
  });

  it('required options may all come from env', () => {
    const env = { DYNAKV_ID: 'n2', DYNAKV_API: '127.0.0.1:7002', DYNAKV_PEER: '127.0.0.1:7102', DYNAKV_DATA: 'x' };
    expect(resolveStartOptions({}, env)).toMatchObject({ id: 'n2', seeds: ['127.0.0.1:7102'] });
  });

  it('bad values are UsageErrors naming the flag', () => {
    expect(() => parseStartArgv([...REQUIRED, '--tombstone-grace', 'soon'], {})).toThrow(UsageError);
    expect(() => resolveStartOptions({}, { DYNAKV_ID: 'n1' })).toThrow(/--api/);
  });
});

describe.runIf(CLI_BUILT)('dynakv binary without a cluster', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'dynakv-cli-')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exit 2 and a clear message on bad flags', async () => {
    const res = await runCli(['start', ...REQUIRED, '--sync', 'sometimes'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--sync: "sometimes" is not one of fsync\|none/);
    const unknown = await runCli(['start', ...REQUIRED, '--bogus'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('missing required flags name their env vars; env satisfies them', async () => {
    const res = await runCli(['start', '--id', 'n1'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--api \(or DYNAKV_API\)/);
    const viaEnv = await runCli(['start'], { cwd: dir, env: { DYNAKV_ID: 'n1', DYNAKV_API: 'bad', DYNAKV_PEER: 'h:1', DYNAKV_DATA: 'd' } });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toMatch(/--api: "bad"/); // got past "missing": env was read
  });

  it('`cluster up -- <flags>` validates node flags before starting anything', async () => {
    for (const flags of [['--id', 'x'], ['--replicas', 'many'], ['--nope']]) {
      const res = await runCli(['cluster', 'up', '--nodes', '2', '--', ...flags], { cwd: dir });
      expect(res.code, res.stderr).toBe(2);
    }
    expect(existsSync(join(dir, '.dynakv', 'cluster.json'))).toBe(false);
  });

  it('cluster subcommands without a cluster: exit 1 with what to do', async () => {
    const res = await runCli(['cluster', 'status'], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no local cluster here.*dynakv cluster up/);
  });

  it('get against a node that is not there: exit 1', async () => {
    const base = await freeBasePort(1);
    const res = await runCli(['get', 'k', '--node', `127.0.0.1:${base + 1}`], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1/);
    expect((await runCli(['get', 'k', '--r', 'most'], { cwd: dir })).code).toBe(2);
  });
});

const byId = (rows: NodeStatusRow[]): Record<string, NodeStatusRow> => Object.fromEntries(rows.map((r) => [r.id, r]));

/** Polls `cluster status` until `check` holds (the ring and failure detector settle asynchronously). */
async function eventually(c: TestCluster, check: (rows: Record<string, NodeStatusRow>) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = byId(await c.status());
    if (check(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`status never matched:\n${JSON.stringify(rows, null, 2)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.runIf(NODE_BUILT)('local cluster end to end', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await startCluster({ nodes: 3, flags: ['--sync', 'none'] });
  }, 120_000);

  afterAll(async () => {
    await stopAllClusters();
  }, 60_000);

  it('status lists 3 nodes UP with their ring share', async () => {
    const text = (await c.cliOk(['cluster', 'status'])).stdout;
    expect(text.match(/^n\d\s+UP\s/gm)).toHaveLength(3);
    const rows = await eventually(c, (r) => ['n1', 'n2', 'n3'].every((id) => (r[id]?.partitions ?? 0) > 0));
    expect(Object.keys(rows)).toEqual(['n1', 'n2', 'n3']);
    expect(rows.n1!.api).toBe(`127.0.0.1:${c.basePort + 1}`);
    expect(rows.n3!.peer).toBe(`127.0.0.1:${c.basePort + 103}`);
  });

  it('refuses a second `cluster up` while nodes run', async () => {
    const res = await c.cli(['cluster', 'up', '--nodes', '3']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/already running/);
  });

  it('put, get, del through the CLI (default node from cluster.json)', async () => {
    const put = await c.cliOk(['put', 'greeting', 'hello', '--w', 'all']);
    expect(put.stderr).toMatch(/^context: \S+/m);
    const got = await c.cliOk(['get', 'greeting', '--r', 'all']);
    expect(got.stdout).toBe('hello');
    expect(got.stderr).toMatch(/^context: \S+/m);
    await c.cliOk(['put', 'piped', '-', '--node', c.node('n2').url], { input: 'from stdin' });
    expect((await c.cliOk(['get', 'piped', '--node', c.node('n3').url])).stdout).toBe('from stdin');
    await c.cliOk(['del', 'greeting', '--w', 'all']);
    const gone = await c.cli(['get', 'greeting']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not_found \(404\)/);
  });

  it('kill n3 → DOWN; start n3 → UP with a new PID', async () => {
    const before = c.node('n3').pid!;
    await c.cliOk(['cluster', 'kill', 'n3']);
    expect(alive(before)).toBe(false);
    const rows = byId(await c.status());
    expect([rows.n1!.state, rows.n2!.state, rows.n3!.state]).toEqual(['UP', 'UP', 'DOWN']);
    expect((await c.cliOk(['cluster', 'status'])).stdout).toMatch(/^n3\s+DOWN\s/m);
    await c.cliOk(['cluster', 'start', 'n3']);
    expect(c.node('n3').pid).not.toBe(before);
    expect(byId(await c.status()).n3!.state).toBe('UP');
  });

  it('pause → PAUSED (status does not hang on it); resume → UP', async () => {
    await c.cliOk(['cluster', 'pause', 'n2']);
    expect(byId(await c.status()).n2!.state).toBe('PAUSED');
    await c.cliOk(['cluster', 'resume', 'n2']);
    expect(byId(await c.status()).n2!.state).toBe('UP');
  });

  it('stop → DOWN gracefully; start brings it back', async () => {
    const res = await c.cliOk(['cluster', 'stop', 'n1']);
    expect(res.stdout).toMatch(/n1 stopped/);
    expect(byId(await c.status()).n1!.state).toBe('DOWN');
    await c.cliOk(['cluster', 'start', 'n1']);
    expect(byId(await c.status()).n1!.state).toBe('UP');
  });

  it('wipe n2 deletes its data dir and starts it empty', async () => {
    const dataDir = join(c.dir, '.dynakv', 'n2', 'data');
    writeFileSync(join(dataDir, 'marker'), 'from before the wipe');
    const before = c.node('n2').pid;
    await c.cliOk(['cluster', 'wipe', 'n2']);
    expect(existsSync(join(dataDir, 'marker'))).toBe(false);
    expect(c.node('n2').pid).not.toBe(before);
    expect(byId(await c.status()).n2!.state).toBe('UP');
  });

  it('partition cuts internode traffic, heal restores it', async () => {
    await c.cliOk(['cluster', 'partition', 'n1,n2', 'n3']);
    const rows = byId(await c.status());
    expect(rows.n1!.blocked).toEqual(['n3']);
    expect(rows.n3!.blocked).toEqual(['n1', 'n2']);
    // n3 is a primary of every key (N=3, 3 nodes) but cannot reach the others: w=all must fail.
    const cut = await c.cli(['put', 'split', 'x', '--w', 'all', '--timeout', '2000', '--node', c.node('n3').url]);
    expect(cut.code, cut.stderr).toBe(1);
    await c.cliOk(['cluster', 'heal']);
    expect(byId(await c.status()).n3!.blocked).toEqual([]);
    const deadline = Date.now() + 20_000;
    let healed = await c.cli(['put', 'split', 'y', '--w', 'all', '--timeout', '2000', '--node', c.node('n3').url]);
    while (healed.code !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      healed = await c.cli(['put', 'split', 'y', '--w', 'all', '--timeout', '2000', '--node', c.node('n3').url]);
    }
    expect(healed.code, healed.stderr).toBe(0);
  });

  it('add starts n4 on the next ports; leave decommissions it (or says the node cannot)', async () => {
    const added = await c.cliOk(['cluster', 'add']);
    expect(added.stdout).toMatch(/n4 started/);
    expect(c.node('n4').api).toBe(`127.0.0.1:${c.basePort + 4}`);
    expect(byId(await c.status()).n4!.state).toBe('UP');
    const left = await c.cli(['cluster', 'leave', 'n4', '--timeout', '60']);
    if (left.code === 1 && /leave not supported by this node version/.test(left.stderr)) return;
    expect(left.code, left.stderr).toBe(0);
    expect(byId(await c.status()).n4!.state).toBe('LEFT');
  });

  it('remove refuses a running node; after a kill it force-removes it, and the ring drops it', async () => {
    await c.cliOk(['cluster', 'add']);
    expect(byId(await c.status()).n5!.state).toBe('UP');
    const running = await c.cli(['cluster', 'remove', 'n5']);
    expect(running.code).toBe(1);
    expect(running.stderr).toMatch(/is running/);
    await c.cliOk(['cluster', 'kill', 'n5']);
    const removed = await c.cli(['cluster', 'remove', 'n5']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(byId(await c.status()).n5!.state).toBe('LEFT');
    const deadline = Date.now() + 60_000;
    let owners: string[] = ['n5'];
    while (owners.includes('n5') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const ring = (await (await fetch(`${c.node('n1').url}/v1/cluster/ring`)).json()) as { owners: string[] };
      owners = ring.owners;
    }
    expect(owners).not.toContain('n5');
  });

  it('down stops every node: no PID left alive', async () => {
    expect(c.alivePids().length).toBeGreaterThanOrEqual(3);
    await c.cliOk(['cluster', 'down']);
    expect(c.alivePids()).toEqual([]);
    const rows = await c.status();
    expect(rows.every((r) => r.state === 'DOWN' || r.state === 'LEFT')).toBe(true);
  });
});

describe.runIf(NODE_BUILT)('cluster up --foreground (npm start)', () => {
  it('prints the nodes, leaves a killed node alone, stops the rest on SIGINT', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'dynakv-fg-')));
    const env = { DYNAKV_CLUSTER_BASE_PORT: String(await freeBasePort(2)) };
    const fg = spawnCli(['cluster', 'up', '--nodes', '2', '--foreground', '--', '--replicas', '2', '--sync', 'none'], { cwd: dir, env });
    const pids = (): number[] => {
      try {
        const state = JSON.parse(readFileSync(join(dir, '.dynakv', 'cluster.json'), 'utf8')) as { nodes: Array<{ pid: number }> };
        return state.nodes.map((n) => n.pid);
      } catch {
        return [];
      }
    };
    try {
      await fg.waitForStdout(/Ctrl-C stops every node/);
      expect(fg.stdout()).toMatch(/n1\s+http:\/\/127\.0\.0\.1:\d+/);
      expect((await runCli(['cluster', 'kill', 'n2'], { cwd: dir, env })).code).toBe(0);
      await new Promise((r) => setTimeout(r, 2_500)); // a watcher, if any, would act in this window
      const [n1, n2] = pids();
      expect(alive(n1!)).toBe(true);
      expect(alive(n2!)).toBe(false);
      fg.signal('SIGINT');
      const res = await fg.exited;
      expect(res.code, res.stderr).toBe(0);
      expect(alive(n1!)).toBe(false);
    } finally {
      fg.signal('SIGKILL');
      for (const pid of pids()) killVerified(pid, dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
