import { LIMITS } from '../limits.js';
import type { PeerReply } from '../messages.js';
import type { AaeReply, AaeRequest } from './messages.js';
import { decodeGroups } from './hash-wire.js';
import { BRANCHES, HASH_BYTES, SEGMENTS } from './tree-shape.js';

/**
 * Bounds and validation of the Merkle exchange messages, both ways: a request
 * from a peer (anything may arrive on the peer port) and a peer's reply to an
 * exchange this node runs (a bad reply ends that exchange, nothing else).
 */
export const AAE_PROTOCOL = {
  /** Branches whose segment hashes one request asks for: 16 × 1 KiB. */
  branchesPerRequestMax: 16,
  /** Segments whose keys one request asks for. */
  segmentsPerRequestMax: 256,
  /** Keys in one `aae-keys` reply; a single segment is always sent whole. */
  keysPerReplyMax: 8192,
  /** Keys in one `aae-fetch` request. */
  fetchKeysMax: 256,
  /** Object bytes in one `aae-objects` reply; at least one object is always sent. */
  fetchReplyBytesMax: 4 * 1024 * 1024,
} as const;

/** Validates the fields of an anti-entropy request (its `type` already checked); throws a plain Error. */
export function parseAaeRequest(m: Record<string, unknown>): AaeRequest {
  switch (m.type) {
    case 'aae-roots':
      return { type: 'aae-roots', partitions: intList(m.partitions, LIMITS.partitionsMax, 0, LIMITS.partitionsMax - 1, 'partitions') };
    case 'aae-hashes': {
      const branches = m.branches === null || m.branches === undefined ? null : intList(m.branches, AAE_PROTOCOL.branchesPerRequestMax, 0, BRANCHES - 1, 'branches');
      return { type: 'aae-hashes', partition: partition(m.partition), branches };
    }
    case 'aae-keys':
      return { type: 'aae-keys', partition: partition(m.partition), segments: intList(m.segments, AAE_PROTOCOL.segmentsPerRequestMax, 0, SEGMENTS - 1, 'segments') };
    case 'aae-fetch': {
      const keys = m.keys;
      if (!Array.isArray(keys) || keys.length > AAE_PROTOCOL.fetchKeysMax) throw new Error('keys: expected a bounded list');
      return { type: 'aae-fetch', partition: partition(m.partition), keys: keys.map(key) };
    }
    default:
      throw new Error('not an anti-entropy message');
  }
}

/** A peer's reply of the expected type, its shape checked against the request; throws otherwise. */
export function expectRoots(reply: PeerReply, partitions: number): Extract<AaeReply, { type: 'aae-roots' }> {
  const r = expectType(reply, 'aae-roots');
  if (!bytes(r.ready, partitions) || !bytes(r.roots, partitions * HASH_BYTES)) throw new Error('aae-roots: bad shape');
  return r;
}

/** The hashes of an `aae-hashes` reply, decoded (`groups` groups of 128 hash pairs), or null when the peer's tree is not built. */
export function expectHashes(reply: PeerReply, groups: number): Int32Array | null {
  const r = expectType(reply, 'aae-hashes');
  if (typeof r.ready !== 'boolean') throw new Error('aae-hashes: bad ready flag');
  if (!r.ready) return null;
  if (!(r.hashes instanceof Uint8Array)) throw new Error('aae-hashes: hashes must be bytes');
  return decodeGroups(r.hashes, groups);
}

export function expectKeys(reply: PeerReply, segments: number): Extract<AaeReply, { type: 'aae-keys' }> {
  const r = expectType(reply, 'aae-keys');
  if (typeof r.ready !== 'boolean' || !r.ready) return { type: 'aae-keys', ready: false, covered: 0, keys: [], hashes: new Uint8Array(0) };
  if (!Number.isInteger(r.covered) || r.covered < 1 || r.covered > segments) throw new Error('aae-keys: bad covered count');
  if (!Array.isArray(r.keys) || !bytes(r.hashes, r.keys.length * HASH_BYTES)) throw new Error('aae-keys: bad shape');
  for (const k of r.keys) key(k);
  return r;
}

export function expectObjects(reply: PeerReply, keys: number): Extract<AaeReply, { type: 'aae-objects' }> {
  const r = expectType(reply, 'aae-objects');
  if (!Array.isArray(r.objects) || r.objects.length < 1 || r.objects.length > keys) throw new Error('aae-objects: bad count');
  return r;
}

function expectType<T extends AaeReply['type']>(reply: PeerReply, type: T): Extract<AaeReply, { type: T }> {
  if (typeof reply !== 'object' || reply === null) throw new Error(`expected ${type}, got nothing`);
  if (reply.type === 'error') throw new Error(`peer answered ${reply.code}: ${reply.message}`);
  if (reply.type !== type) throw new Error(`expected ${type}, got ${String(reply.type)}`);
  return reply as Extract<AaeReply, { type: T }>;
}

function bytes(value: unknown, length: number): boolean {
  return value instanceof Uint8Array && value.length === length;
}

function intList(value: unknown, lengthMax: number, min: number, max: number, what: string): number[] {
  if (!Array.isArray(value) || value.length > lengthMax) throw new Error(`${what}: expected at most ${lengthMax} entries`);
  for (const v of value) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`${what}: expected integers in ${min}..${max}`);
  }
  return value as number[];
}

function partition(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= LIMITS.partitionsMax) throw new Error('partition: out of range');
  return value;
}

function key(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.keyBytesMax * 4 || Buffer.byteLength(value) > LIMITS.keyBytesMax) {
    throw new Error('key: bad key');
  }
  return value;
}
