import type { Transport } from '../../ports/transport.js';
import { assert } from '../assert.js';
import type { NodeId, PeerReply, RingStamp, WireRing } from '../messages.js';
import { createRing, transferKey, validateRing, withPending, type Ring } from '../ring/ring.js';

/**
 * The ring as cluster state (riak_core_ring gossiped by riak_core_gossip):
 * an opaque value with a version, persisted by each node and spread by
 * gossip. It is not recomputed from the member list: ownership changes only
 * when the claimant makes a new version (see claimant.ts), so a member going
 * down or coming back never moves partitions; that is what sloppy quorum and
 * hinted handoff are for.
 *
 * Gossip carries only the stamp (version + digest); a node that sees a stamp
 * ahead of its own fetches the ring from that peer (`ring-get`), or gets it
 * in full in a push-pull answer.
 */

export interface RingStateDeps {
  readonly self: NodeId;
  /** Q and N for the initial ring (fixed at cluster creation; an adopted ring brings its own). */
  readonly partitions: number;
  readonly replicas: number;
  readonly transport: Transport;
  readonly fetchTimeoutMs: number;
  /** Called with every ring this node adopts (persist it: a restarted node uses its own ring). */
  persist(ring: Ring): void;
  onChange(ring: Ring): void;
}

/** Remembered digests of rings found worse than ours, so a peer holding one is not asked again and again. */
const REJECTED_RINGS_MAX = 64;

export class RingState {
  private ring: Ring | undefined;
  private digest = '';
  private fetching = false;
  private readonly rejected = new Set<string>();
  /** Counters for status. */
  adopted = 0;
  fetches = 0;

  constructor(
    private readonly deps: RingStateDeps,
    known: Ring | undefined,
  ) {
    if (known !== undefined && known.version >= 1) this.set(known);
  }

  get current(): Ring | undefined {
    return this.ring;
  }

  stamp(): RingStamp {
    return { version: this.ring?.version ?? 0, digest: this.digest };
  }

  /**
   * The bootstrap rule: a cluster's first ring is made from the sorted ids of
   * this node and the seeds it contacted. Deterministic, so nodes started
   * together with the same seeds make the same ring (version 1). No-op once
   * this node has a ring.
   */
  createInitial(ids: readonly NodeId[]): void {
    if (this.ring !== undefined) return;
    const members = [...new Set([this.deps.self, ...ids])];
    assert(members.length <= this.deps.partitions, `ring: ${members.length} members for ${this.deps.partitions} partitions`);
    this.adopt(createRing(members, this.deps.partitions, this.deps.replicas));
  }

  /** Adopts `ring` if it is preferable to ours. Returns whether it was adopted. */
  offer(ring: Ring): boolean {
    if (this.ring !== undefined) {
      const forks = mergeForks(this.ring, ring);
      if (forks !== undefined) {
        if (forks === this.ring) return false;
        this.adopt(forks);
        return true;
      }
      if (!preferRing(ring, this.ring)) return false;
    }
    this.adopt(ring);
    return true;
  }

  /** A peer gossiped its ring stamp: fetch its ring when the stamp is ahead of ours (one fetch at a time). */
  heard(from: NodeId, stamp: RingStamp): void {
    if (this.fetching || !stampAhead(stamp, this.stamp()) || this.rejected.has(stampKey(stamp))) return;
    this.fetching = true;
    this.fetches++;
    this.deps.transport.request(from, { type: 'ring-get' }, this.deps.fetchTimeoutMs).then(
      (reply) => {
        this.fetching = false;
        if (reply.type === 'ring') this.received(reply.ring);
      },
      () => {
        this.fetching = false;
      },
    );
  }

  /** Our ring in full for a peer whose stamp is behind ours, else null. */
  ringFor(theirs: RingStamp): WireRing | null {
    if (this.ring === undefined || !stampAhead(this.stamp(), theirs)) return null;
    return toWire(this.ring);
  }

  /** A ring from a peer (untrusted): validated, then offered. Returns whether it was adopted. */
  received(input: unknown): boolean {
    if (input === null || input === undefined) return false;
    let ring: Ring;
    try {
      ring = validateRing(input);
    } catch {
      return false;
    }
    if (ring.version < 1) return false;
    if (this.offer(ring)) return true;
    if (this.rejected.size >= REJECTED_RINGS_MAX) this.rejected.clear();
    this.rejected.add(stampKey({ version: ring.version, digest: ringDigest(ring) }));
    return false;
  }

  /** Answer to `ring-get`. */
  handleGet(): PeerReply {
    return { type: 'ring', ring: this.ring === undefined ? null : toWire(this.ring) };
  }

  private adopt(ring: Ring): void {
    this.set(ring);
    this.adopted++;
    this.deps.persist(ring);
    this.deps.onChange(ring);
  }

  private set(ring: Ring): void {
    assert(ring.version >= 1, 'ring: an adopted ring has a version ≥ 1');
    this.ring = ring;
    this.digest = ringDigest(ring);
  }
}

/** Whether `theirs` may be a better ring than `mine`: a higher version, or another ring of the same version. */
export function stampAhead(theirs: RingStamp, mine: RingStamp): boolean {
  if (theirs.version !== mine.version) return theirs.version > mine.version;
  return theirs.version > 0 && theirs.digest !== mine.digest;
}

/**
 * Whether `candidate` should replace `current`: a higher version wins. Two
 * different rings of one version (a split bootstrap, or two claimants on the
 * two sides of a partition) are ordered deterministically, so every node
 * settles on the same one: more distinct owners first, then the digest.
 */
export function preferRing(candidate: Ring, current: Ring): boolean {
  if (candidate.version !== current.version) return candidate.version > current.version;
  const candidateOwners = new Set(candidate.owners).size;
  const currentOwners = new Set(current.owners).size;
  if (candidateOwners !== currentOwners) return candidateOwners > currentOwners;
  return ringDigest(candidate) > ringDigest(current);
}

/**
 * Two rings of one version with the same owners are forks of one claim that
 * cleared different verified transfers (two claimants, one each side of a
 * partition). Clearing is knowledge that only grows (a transfer is cleared
 * once verified), so the merge keeps the transfers still pending in both:
 * every node that sees both forks computes the same ring, and a leaver that
 * saw its last transfer cleared in one fork is not waited for in the other.
 * Returns `mine` when `theirs` adds nothing, undefined when the two are not
 * forks of one claim (then preferRing decides).
 */
export function mergeForks(mine: Ring, theirs: Ring): Ring | undefined {
  if (mine.version !== theirs.version || mine.partitions !== theirs.partitions || mine.replicas !== theirs.replicas) return undefined;
  for (let i = 0; i < mine.owners.length; i++) if (mine.owners[i] !== theirs.owners[i]) return undefined;
  const theirsPending = new Set((theirs.pending ?? []).map(transferKey));
  const both = (mine.pending ?? []).filter((t) => theirsPending.has(transferKey(t)));
  return both.length === (mine.pending ?? []).length ? mine : withPending(mine, both, mine.version);
}

/** 64-bit FNV-1a (two 32-bit lanes) of the ring's shape and owners, as 16 hex digits. Pure and stable across nodes. */
export function ringDigest(ring: Ring): string {
  const moving = ring.pending === undefined || ring.pending.length === 0 ? '' : `/${ring.pending.map(transferKey).join(',')}`;
  const text = `${ring.partitions}/${ring.replicas}/${ring.version}/${ring.owners.join(',')}${moving}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 + 2) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

export function toWire(ring: Ring): WireRing {
  const wire: WireRing = { partitions: ring.partitions, replicas: ring.replicas, owners: [...ring.owners], version: ring.version };
  if (ring.pending !== undefined && ring.pending.length > 0) wire.pending = ring.pending.map((t) => ({ partition: t.partition, from: t.from, to: t.to }));
  return wire;
}

function stampKey(stamp: RingStamp): string {
  return `${stamp.version}:${stamp.digest}`;
}
