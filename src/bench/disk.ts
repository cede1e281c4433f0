/**
 * A quick probe of the data disk: sequential 4 KiB writes, each followed by
 * fdatasync. Durable commits cannot be faster than this; when it is slow the
 * machine's disk is busy (other tests) and the durable numbers of the run are too.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface FsyncProbe {
  writes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function probeFsync(dir: string, writes = 100): FsyncProbe {
  const file = join(dir, 'fsync-probe');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < writes; i++) {
      const t0 = performance.now();
      writeSync(fd, block, 0, block.length, i * block.length);
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  const at = (q: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 1000) / 1000;
  return { writes, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
