/** A failure to report to the user without a stack trace; `exitCode` 1 = failed, 2 = bad usage. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}
