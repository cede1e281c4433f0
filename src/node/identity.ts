import { peerPackr } from '../adapters/msgpack.js';
import type { MemberInfo } from '../core/messages.js';
import { parseMembers } from '../core/peer-protocol.js';
import { toWire } from '../core/membership/ring-state.js';
import { validateRing, type Ring } from '../core/ring/ring.js';
import type { Random } from '../ports/random.js';
import type { Store } from '../ports/store.js';

/**
 * What a node keeps about itself in its store's meta records, across restarts:
 * its actor, incarnation, the members and the ring it last saw. One module for
 * the production node and the simulator, so both restart the same way.
 */
const META_ACTOR = 'actor';
const META_INCARNATION = 'incarnation';
const META_MEMBERS = 'members';
const META_RING = 'ring';

/** Called when a best-effort meta write fails (the node logs it; the simulator reports a bug). */
export type OnPersistError = (what: string, error: unknown) => void;

/** The actor id names this data directory's dots; a wiped directory gets a fresh epoch. */
export async function loadActor(store: Store, id: string, random: Random): Promise<string> {
  const saved = store.getMeta(META_ACTOR);
  if (saved !== undefined) return Buffer.from(saved).toString('utf8');
  let epoch = '';
  for (let i = 0; i < 8; i++) epoch += 'abcdefghijklmnopqrstuvwxyz0123456789'[random.int(36)];
  const actor = `${id}.${epoch}`;
  await store.putMeta(META_ACTOR, Buffer.from(actor, 'utf8'));
  return actor;
}

/** Every start raises the incarnation, so this run's member record wins over the last run's. */
export async function bumpIncarnation(store: Store): Promise<number> {
  const saved = store.getMeta(META_INCARNATION);
  const next = saved === undefined ? 1 : Buffer.from(saved).readUInt32BE(0) + 1;
  await store.putMeta(META_INCARNATION, uint32(next));
  return next;
}

/** A refutation raised our incarnation: the next start must go above it (bumpIncarnation adds 1 to this). */
export function saveIncarnation(store: Store, incarnation: number, onError: OnPersistError): void {
  store.putMeta(META_INCARNATION, uint32(incarnation)).catch((error: unknown) => onError('incarnation', error));
}

export function loadMembers(store: Store): MemberInfo[] {
  const saved = store.getMeta(META_MEMBERS);
  if (saved === undefined) return [];
  try {
    return parseMembers(peerPackr.unpack(saved));
  } catch {
    return [];
  }
}

export function saveMembers(store: Store, members: MemberInfo[], onError: OnPersistError): void {
  store.putMeta(META_MEMBERS, peerPackr.pack(members)).catch((error: unknown) => onError('members', error));
}

/** The ring this node last adopted (validated like a peer's: a damaged record means bootstrapping again). */
export function loadRing(store: Store, onError: OnPersistError): Ring | undefined {
  const saved = store.getMeta(META_RING);
  if (saved === undefined) return undefined;
  try {
    return validateRing(peerPackr.unpack(saved));
  } catch (error) {
    onError('ring (unreadable; bootstrapping from seeds)', error);
    return undefined;
  }
}

export function saveRing(store: Store, ring: Ring, onError: OnPersistError): void {
  store.putMeta(META_RING, peerPackr.pack(toWire(ring))).catch((error: unknown) => onError('ring', error));
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}
