/**
 * Base ports for test clusters: node i listens on base+i (API) and
 * base+100+i (peer). Bases are multiples of 200 in 10000..31999, below
 * Linux's ephemeral range (32768+), so outgoing connections never take them.
 */
import { createServer } from 'node:net';

const FIRST = 10_000;
const SLOTS = 110; // (32_000 - 10_000) / 200
const taken = new Set<number>();

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A random base whose first `nodes` API and peer ports are free now (best effort: another process may still race us). */
export async function freeBasePort(nodes: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = FIRST + 200 * Math.floor(Math.random() * SLOTS);
    if (taken.has(base)) continue;
    const ports = Array.from({ length: nodes }, (_, i) => [base + 1 + i, base + 101 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) {
      taken.add(base);
      return base;
    }
  }
  throw new Error('no free base port found for a test cluster');
}

export function releaseBasePort(base: number): void {
  taken.delete(base);
}
