import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasLeftMarker, LEFT_MARKER_FILE, writeLeftMarker } from '../../src/node/left-marker.js';

describe('left marker (how `dynakv cluster leave` tells a finished leave from a dead process)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is absent until the node writes it on leaving, then names the node and the time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dynakv-left-'));
    dirs.push(dir);
    expect(hasLeftMarker(dir)).toBe(false);
    writeLeftMarker(dir, 'n4', Date.UTC(2026, 10, 22, 12, 0, 0));
    expect(hasLeftMarker(dir)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, LEFT_MARKER_FILE), 'utf8'))).toEqual({ id: 'n4', leftAt: '2026-11-22T12:00:00.000Z' });
  });

  it('a data directory that does not exist has no marker (a wiped node)', () => {
    expect(hasLeftMarker(join(tmpdir(), 'dynakv-no-such-dir-' + process.pid))).toBe(false);
  });
});
