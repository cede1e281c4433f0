import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { ERROR_STATUS } from '../../src/http/errors.js';

/** The documented error list and the code agree both ways (fastify's habit). */
describe('README error table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);

  it('lists every error code with the status the API returns', () => {
    const documented = new Map(rows);
    for (const code of ERROR_CODES) expect(documented.get(code), code).toBe(ERROR_STATUS[code]);
  });

  it('documents no code the API does not have', () => {
    for (const [code] of rows) expect(ERROR_CODES as readonly string[]).toContain(code);
    expect(rows).toHaveLength(ERROR_CODES.length);
  });
});
