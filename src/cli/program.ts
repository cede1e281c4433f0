/** The `dynakv` command tree (commander). Actions stay one-liners into the modules that do the work. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { addStartOptions, parseIntIn, resolveStartOptions } from './args.js';
import * as cluster from './cluster/commands.js';
import * as kv from './kv.js';
import { runStart } from './start.js';

/** From package.json (this file runs as dist/cli/program.js). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command('dynakv')
    .description('Dynamo-style key-value store: run a node, manage a local cluster, read and write keys')
    .version(version());
  program.addCommand(startCommand());
  program.addCommand(clusterCommand());
  addKvCommands(program);
  return program;
}

function startCommand(): Command {
  const cmd = new Command('start').description(
    'run one node in the foreground (every flag also as DYNAKV_<FLAG>, e.g. DYNAKV_HINTED_HANDOFF=off; flags win)',
  );
  return addStartOptions(cmd).action(async (opts: Record<string, string | boolean | undefined>) => {
    await runStart(resolveStartOptions(opts, process.env));
  });
}

function clusterCommand(): Command {
  const c = new Command('cluster').description(
    'local cluster manager; state in ./.dynakv/ (base port: DYNAKV_CLUSTER_BASE_PORT, default 7000)',
  );
  c.command('up')
    .description('start N nodes in the background and wait until all are healthy')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--foreground', 'stay attached: print the nodes, stop them all on Ctrl-C')
    .option('--clean', "delete the previous cluster's data and logs first")
    .argument('[node-flags...]', 'after --: flags for every node, e.g. -- --replicas 2 --sync none')
    .action(async (nodeFlags: string[], o: { nodes: string; foreground?: boolean; clean?: boolean }) => {
      const nodes = parseIntIn('nodes', o.nodes, 1, 99);
      await cluster.up({ nodes, flags: nodeFlags, foreground: !!o.foreground, clean: !!o.clean });
    });
  c.command('down').description('stop every node (SIGTERM, SIGKILL after 10 s)').action(() => cluster.down());
  c.command('status')
    .description('node, state, partitions owned, keys, hints pending, transfers')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => cluster.status(!!o.json));
  c.command('add').description('start one more node with the same flags and join it').action(() => cluster.add());
  c.command('leave <node>')
    .description('decommission a node: its data moves to the new owners, then it stops')
    .option('--timeout <s>', 'seconds to wait for it to stop', '300')
    .action((id: string, o: { timeout: string }) => cluster.leave(id, parseIntIn('timeout', o.timeout, 1, 86_400) * 1000));
  c.command('remove <node>')
    .description('force-remove a node that is dead for good (its disk is lost): surviving replicas take over its data')
    .action((id: string) => cluster.remove(id));
  const one = (name: string, description: string, fn: (id: string) => Promise<void>): void => {
    c.command(`${name} <node>`).description(description).action((id: string) => fn(id));
  };
  one('stop', 'stop a node gracefully (SIGTERM, wait for exit)', cluster.stop);
  one('start', 'start a stopped node again with the same arguments', cluster.start);
  one('kill', 'SIGKILL a node', cluster.kill);
  one('pause', 'freeze a node (SIGSTOP)', cluster.pause);
  one('resume', 'unfreeze a node (SIGCONT)', cluster.resume);
  one('wipe', 'stop a node, delete its data, start it empty', cluster.wipe);
  c.command('partition <groups...>')
    .description('cut internode traffic between groups, e.g. `partition n1,n2 n3` (one group: it vs the rest)')
    .action((groups: string[]) => cluster.partition(groups));
  c.command('heal').description('undo `partition`').action(() => cluster.heal());
  return c;
}

function addKvCommands(program: Command): void {
  const nodeOpt = ['--node <url>', 'node to ask (default: first node of ./.dynakv/cluster.json, else http://127.0.0.1:7001)'] as const;
  const timeoutOpt = ['--timeout <ms>', 'request timeout on the coordinator'] as const;
  program
    .command('get <key>')
    .description('print the value (or every sibling) to stdout, the context to stderr')
    .option('--r <r>', 'one|quorum|all|n')
    .option('--pr <pr>', 'primaries that must answer')
    .option(...timeoutOpt)
    .option(...nodeOpt)
    .action((key: string, o: kv.GetOptions) => kv.get(key, o));
  program
    .command('put <key> <value>')
    .description('store VALUE (- reads stdin); prints the new context to stderr')
    .option('--content-type <type>', 'default text/plain; charset=utf-8 (stdin: application/octet-stream)')
    .option('--context <ctx>', 'causal context from a previous get: replaces the versions it has seen')
    .option('--w <w>', 'one|quorum|all|n')
    .option('--pw <pw>', 'primaries that must acknowledge')
    .option(...timeoutOpt)
    .option(...nodeOpt)
    .action((key: string, value: string, o: kv.PutOptions) => kv.put(key, value, o));
  program
    .command('del <key>')
    .description('delete (writes a tombstone)')
    .option('--context <ctx>', 'causal context (default: the one read at r)')
    .option('--w <w>', 'one|quorum|all|n')
    .option('--pw <pw>', 'primaries that must acknowledge')
    .option('--r <r>', 'read quorum for the implicit context')
    .option(...timeoutOpt)
    .option(...nodeOpt)
    .action((key: string, o: kv.DelOptions) => kv.del(key, o));
  program
    .command('status')
    .description("print a node's GET /v1/admin/status")
    .option(...nodeOpt)
    .action((o: kv.CommonOptions) => kv.nodeStatus(o));
}

/** Settings commander does not pass to subcommands built with `new Command`. */
export function forEachCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) forEachCommand(sub, fn);
}
