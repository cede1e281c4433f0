import { parseAaeRequest } from './antientropy/protocol.js';
import { LIMITS } from './limits.js';
import type { ForwardedOp, MemberInfo, MemberStatus, MemberUpdate, PeerReply, PeerRequest, RingStamp } from './messages.js';

/**
 * Validation of everything that arrives on the peer port. A peer (or anything
 * else that reaches the port) can send arbitrary bytes; this turns them into a
 * typed request or throws a plain Error, which the node answers with an
 * error reply. Objects inside are validated later by `fromWire`.
 */
export function parsePeerRequest(input: unknown): PeerRequest {
  const m = record(input, 'message');
  switch (m.type) {
    case 'aae-roots':
    case 'aae-hashes':
    case 'aae-keys':
    case 'aae-fetch':
      return parseAaeRequest(m);
    case 'replicate':
      return {
        type: 'replicate',
        partition: partition(m.partition),
        key: key(m.key),
        object: bytes(m.object, 'object'),
        ...(m.hint === undefined || m.hint === null ? {} : { hint: text(m.hint, 128, 'hint') }),
      };
    case 'read':
      return { type: 'read', partition: partition(m.partition), key: key(m.key), ...(m.hints === true ? { hints: true } : {}) };
    case 'reap':
      return { type: 'reap', partition: partition(m.partition), key: key(m.key), object: m.object as never };
    case 'coordinate':
      return { type: 'coordinate', request: forwardedOp(m.request) };
    case 'ping':
      return { type: 'ping', from: member(m.from), target: text(m.target, 128, 'target'), ring: ringStamp(m.ring), gossip: memberUpdates(m.gossip) };
    case 'ping-req':
      return {
        type: 'ping-req',
        from: member(m.from),
        target: text(m.target, 128, 'target'),
        timeoutMs: int(m.timeoutMs, 1, LIMITS.requestTimeoutMsMax, 'timeoutMs'),
        ring: ringStamp(m.ring),
        gossip: memberUpdates(m.gossip),
      };
    case 'push-pull':
      return { type: 'push-pull', from: member(m.from), join: m.join === true, members: parseMembers(m.members), ring: ringStamp(m.ring) };
    case 'ring-get':
      return { type: 'ring-get' };
    case 'transfer-batch': {
      const keys = m.keys;
      const objects = m.objects;
      if (!Array.isArray(keys) || !Array.isArray(objects) || keys.length !== objects.length || keys.length > TRANSFER_BATCH_KEYS_ACCEPTED_MAX) {
        throw new Error('transfer-batch: keys and objects must be lists of equal, bounded length');
      }
      return {
        type: 'transfer-batch',
        partition: partition(m.partition),
        from: text(m.from, 128, 'from'),
        pass: int(m.pass, 1, Number.MAX_SAFE_INTEGER, 'pass'),
        keys: keys.map(key),
        objects: objects as never,
      };
    }
    case 'transfer-done':
      return { type: 'transfer-done', partition: partition(m.partition), from: text(m.from, 128, 'from'), to: text(m.to, 128, 'to') };
    default:
      throw new Error(`unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}`);
  }
}

/** Validates a member list (a peer's reply, or the list persisted by the last run). */
export function parseMembers(input: unknown): MemberInfo[] {
  if (!Array.isArray(input) || input.length > MEMBERS_MAX) throw new Error('members: bad list');
  return input.map(member);
}

/** A peer's answer to ping / ping-req: ack or nack with the peer's record and gossip. Throws on anything else. */
export function parsePingReply(input: unknown): Extract<PeerReply, { type: 'ping-ack' | 'ping-nack' }> {
  const m = record(input, 'reply');
  if (m.type !== 'ping-ack' && m.type !== 'ping-nack') throw new Error(`ping: unexpected reply ${JSON.stringify(m.type)?.slice(0, 40)}`);
  return { type: m.type, from: member(m.from), ring: ringStamp(m.ring), gossip: memberUpdates(m.gossip) };
}

/** A peer's answer to push-pull. The full ring, if any, is left for validateRing. */
export function parsePushPullReply(input: unknown): Extract<PeerReply, { type: 'push-pull' }> {
  const m = record(input, 'reply');
  if (m.type !== 'push-pull') throw new Error(`push-pull: unexpected reply ${JSON.stringify(m.type)?.slice(0, 40)}`);
  return { type: 'push-pull', from: member(m.from), members: parseMembers(m.members), ring: ringStamp(m.ring), fullRing: (m.fullRing ?? null) as never };
}

/** Keys accepted in one handoff batch (a sender's keysPerBatchMax is far below). */
const TRANSFER_BATCH_KEYS_ACCEPTED_MAX = 16_384;

/** Gossip updates piggybacked on one message. */
export const GOSSIP_UPDATES_ACCEPTED_MAX = 256;

function memberUpdates(input: unknown): MemberUpdate[] {
  if (!Array.isArray(input) || input.length > GOSSIP_UPDATES_ACCEPTED_MAX) throw new Error('gossip: bad list');
  return input.map((u) => ({ ...member(u), from: text(record(u, 'update').from, 128, 'from') }));
}

function ringStamp(input: unknown): RingStamp {
  const m = record(input, 'ring stamp');
  return { version: int(m.version, 0, Number.MAX_SAFE_INTEGER, 'ring version'), digest: text(m.digest, 64, 'ring digest') };
}

/** Members accepted in one membership message. */
const MEMBERS_MAX = 4096;
const STATUSES: readonly MemberStatus[] = ['joining', 'alive', 'suspect', 'dead', 'leaving', 'left'];

function forwardedOp(input: unknown): ForwardedOp {
  const m = record(input, 'request');
  const timeoutMs = int(m.timeoutMs, 1, LIMITS.requestTimeoutMsMax, 'timeoutMs');
  const q = (name: string, min: number): number => int(m[name], min, LIMITS.replicasMax, name);
  switch (m.op) {
    case 'get':
      return { op: 'get', key: key(m.key), r: q('r', 1), pr: q('pr', 0), timeoutMs, repairSync: m.repairSync === true };
    case 'put':
      if (!(m.value instanceof Uint8Array)) throw new Error('put: value must be bytes');
      return { op: 'put', key: key(m.key), value: m.value, contentType: text(m.contentType, LIMITS.contentTypeBytesMax, 'contentType'), context: m.context as never, w: q('w', 1), pw: q('pw', 0), timeoutMs };
    case 'delete':
      return { op: 'delete', key: key(m.key), context: (m.context ?? null) as never, w: q('w', 1), pw: q('pw', 0), r: q('r', 1), pr: q('pr', 0), timeoutMs };
    default:
      throw new Error('request: unknown op');
  }
}

function member(input: unknown): MemberInfo {
  const m = record(input, 'member');
  const status = m.status as MemberStatus;
  if (!STATUSES.includes(status)) throw new Error('member: bad status');
  const zone = m.zone === undefined || m.zone === null ? undefined : text(m.zone, 128, 'zone');
  return {
    id: text(m.id, 128, 'id'),
    api: text(m.api, 256, 'api'),
    peer: text(m.peer, 256, 'peer'),
    status,
    incarnation: int(m.incarnation, 0, Number.MAX_SAFE_INTEGER, 'incarnation'),
    zone,
  };
}

/** Packed bytes; what they hold is validated by whoever decodes them (codec.ts unpackObject). */
function bytes(input: unknown, what: string): Uint8Array {
  if (!(input instanceof Uint8Array) || input.length === 0) throw new Error(`${what}: expected bytes`);
  return input;
}

function record(input: unknown, what: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || input instanceof Uint8Array) {
    throw new Error(`${what}: expected a map`);
  }
  return input as Record<string, unknown>;
}

function partition(value: unknown): number {
  return int(value, 0, LIMITS.partitionsMax - 1, 'partition');
}

function key(value: unknown): string {
  const k = text(value, LIMITS.keyBytesMax * 4, 'key');
  if (k.length === 0 || Buffer.byteLength(k) > LIMITS.keyBytesMax) throw new Error('key: bad length');
  return k;
}

function text(value: unknown, maxChars: number, what: string): string {
  if (typeof value !== 'string' || value.length > maxChars) throw new Error(`${what}: expected a string ≤ ${maxChars}`);
  return value;
}

function int(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${what}: expected an integer in ${min}..${max}`);
  }
  return value;
}
