/**
 * Every failure a client can cause has one code. The HTTP layer maps codes to
 * statuses (src/http/errors.ts); README lists them; a test keeps all three in step.
 */
export const ERROR_CODES = [
  'invalid_key',
  'invalid_parameter',
  'invalid_context',
  'value_too_large',
  'too_many_siblings',
  'quorum_not_met',
  'overloaded',
  'not_found',
  'unauthorized',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status of each code (DESIGN §7): the API answers with it, the client SDK falls back on it. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_key: 400,
  invalid_parameter: 400,
  invalid_context: 400,
  value_too_large: 413,
  too_many_siblings: 409,
  quorum_not_met: 503,
  overloaded: 503,
  not_found: 404,
  unauthorized: 401,
  internal: 500,
};

export interface ErrorDetails {
  required?: number;
  acknowledged?: number;
  retryAfterSeconds?: number;
  [field: string]: unknown;
}

export class DynakvError extends Error {
  override name = 'DynakvError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
