/** `dynakv start`: one node in the foreground until SIGINT/SIGTERM. */
import type { NodeOptions, RunningNode } from '../node/options.js';
import { CliError } from './errors.js';

interface NodeModule {
  startNode(options: NodeOptions): Promise<RunningNode>;
}

/** Loaded lazily so the rest of the CLI works (and compiles) without the node built. */
async function loadNodeModule(): Promise<NodeModule> {
  const url = new URL('../node/node.js', import.meta.url);
  let mod: Partial<NodeModule>;
  try {
    mod = (await import(url.href)) as Partial<NodeModule>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(url.pathname)) {
      throw new CliError(`this build has no node (${url.pathname} missing); run \`npm run build\``);
    }
    throw err;
  }
  if (typeof mod.startNode !== 'function') throw new CliError(`${url.pathname} does not export startNode`);
  return mod as NodeModule;
}

export async function runStart(options: NodeOptions): Promise<void> {
  const { startNode } = await loadNodeModule();
  const node = await startNode(options);
  process.stderr.write(`dynakv ${node.id}: api http://${node.apiAddress} peer ${node.peerAddress}\n`);
  const signal = await new Promise<NodeJS.Signals | 'left'>((resolve) => {
    process.once('SIGINT', resolve).once('SIGTERM', resolve);
    // A finished `POST /v1/admin/leave`: the node closed itself; exit 0.
    node.left?.then(() => resolve('left'), () => resolve('left'));
  });
  if (signal === 'left') {
    process.stderr.write(`dynakv ${node.id}: left the cluster, stopped\n`);
    process.exit(0);
  }
  // A second signal while closing means "stop now".
  const now = (): never => process.exit(1);
  process.once('SIGINT', now).once('SIGTERM', now);
  process.stderr.write(`dynakv ${node.id}: ${signal}, closing\n`);
  try {
    await node.close();
  } catch (err) {
    process.stderr.write(`dynakv ${node.id}: close failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
  process.exit(0);
}
