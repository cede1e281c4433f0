/**
 * Entry point of the `dynakv` command (bin/dynakv.js imports this).
 * Exit codes: 0 ok, 1 the operation failed, 2 bad flags or arguments.
 */
import { CommanderError } from 'commander';
import { UsageError } from './args.js';
import { CliError } from './errors.js';
import { closeHttp } from './http.js';
import { buildProgram, forEachCommand } from './program.js';

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed it already
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n(add --help for usage)\n`);
    return 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  forEachCommand(program, (c) => c.exitOverride().showHelpAfterError('(add --help for usage)'));
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    return exitCodeFor(err);
  }
}

const code = await main(process.argv);
await closeHttp().catch(() => {});
// Explicit exit: a lingering handle (keep-alive socket, stdin) must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
