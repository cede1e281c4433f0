import { toWire, type WireObject } from '../version/codec.js';
import type { AaeReply, AaeRequest } from './messages.js';
import { encodeGroups, encodeHashes } from './hash-wire.js';
import { AAE_PROTOCOL } from './protocol.js';
import type { TreeStore } from './tree-store.js';
import { wireBytes } from './wire-size.js';

/**
 * The answering side of an exchange: reads this node's trees and store, never
 * writes. Every reply is bounded (whole segments up to a key count, objects up
 * to a byte count); the asker pages through the rest.
 */
export function serveAae(trees: TreeStore, message: AaeRequest): AaeReply {
  switch (message.type) {
    case 'aae-roots':
      return roots(trees, message.partitions);
    case 'aae-hashes': {
      if (!trees.isBuilt(message.partition)) return { type: 'aae-hashes', ready: false, hashes: new Uint8Array(0) };
      const tree = trees.tree(message.partition);
      const groups = message.branches === null ? [tree?.branchLevel()] : message.branches.map((b) => tree?.segmentLevel(b));
      return { type: 'aae-hashes', ready: true, hashes: encodeGroups(groups) };
    }
    case 'aae-keys':
      return segmentKeys(trees, message.partition, message.segments);
    case 'aae-fetch':
      return fetch(trees, message.partition, message.keys);
  }
}

function roots(trees: TreeStore, partitions: readonly number[]): AaeReply {
  const ready = new Uint8Array(partitions.length);
  partitions.forEach((p, i) => (ready[i] = trees.isBuilt(p) ? 1 : 0));
  return { type: 'aae-roots', ready, roots: encodeHashes(trees.roots(partitions)) };
}

function segmentKeys(trees: TreeStore, partition: number, segments: readonly number[]): AaeReply {
  if (!trees.isBuilt(partition) || segments.length === 0) return { type: 'aae-keys', ready: trees.isBuilt(partition), covered: 0, keys: [], hashes: new Uint8Array(0) };
  const tree = trees.tree(partition);
  const keys: string[] = [];
  const hashes: number[] = [];
  const add = (key: string, hi: number, lo: number): void => {
    keys.push(key);
    hashes.push(hi, lo);
  };
  let covered = 0;
  for (const segment of segments) {
    const size = tree?.keysInSegment(segment) ?? 0;
    if (covered > 0 && keys.length + size > AAE_PROTOCOL.keysPerReplyMax) break;
    tree?.forEachIn(segment, add);
    covered++;
  }
  return { type: 'aae-keys', ready: true, covered, keys, hashes: encodeHashes(Int32Array.from(hashes)) };
}

function fetch(trees: TreeStore, partition: number, keys: readonly string[]): AaeReply {
  const objects: Array<WireObject | null> = [];
  let bytes = 0;
  for (const key of keys) {
    const object = trees.get(partition, key);
    const wire = object === undefined ? null : toWire(object);
    const size = wireBytes(wire);
    if (objects.length > 0 && bytes + size > AAE_PROTOCOL.fetchReplyBytesMax) break;
    objects.push(wire);
    bytes += size;
  }
  return { type: 'aae-objects', objects };
}
