import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A file a node writes in its data directory when it has left the cluster,
 * before it exits: how `dynakv cluster leave` tells a finished leave from a
 * process that died on the way (killed, crashed), which it is not the parent
 * of and cannot ask for an exit status.
 */
export const LEFT_MARKER_FILE = 'LEFT';

export function writeLeftMarker(dataDir: string, id: string, atMs: number): void {
  writeFileSync(join(dataDir, LEFT_MARKER_FILE), `${JSON.stringify({ id, leftAt: new Date(atMs).toISOString() })}\n`);
}

export function hasLeftMarker(dataDir: string): boolean {
  return existsSync(join(dataDir, LEFT_MARKER_FILE));
}
