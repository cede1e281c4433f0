import { DynakvError, isErrorCode } from '../errors.js';
import { LEFT_CLUSTER_CODE, type ForwardedOp, type PeerReply } from '../messages.js';
import type { Preflist } from '../ring/ring.js';
import { fromWire, toWire, vectorFromWire } from '../version/codec.js';
import { update, type NewValue } from '../version/dvv.js';
import type { VersionedObject, VersionVector } from '../version/types.js';
import type { CoordinatorDeps } from './context.js';
import { localAnswer, readQuorum, ReadRepairStats, type ReadQuorum } from './read-path.js';
import { replicateWrite, type WriteQuorum } from './write-path.js';

/** Extra time a forwarding node waits beyond the coordinator's own timeout. */
const FORWARD_TIMEOUT_SLACK_MS = 1000;

export interface WriteRequest {
  value: Uint8Array;
  contentType: string;
  context: VersionVector;
}

/**
 * The request coordinator (DESIGN §5). Any node accepts any request; writes are
 * coordinated by a primary of the key (a non-member forwards), because only
 * the key's replicas should mint its dots. Reads are coordinated where they land.
 */
export class Coordinator {
  readonly repairs = new ReadRepairStats();
  forwarded = 0;
  fallbackCoordinated = 0;

  constructor(readonly deps: CoordinatorDeps) {}

  async get(key: string, quorum: ReadQuorum): Promise<VersionedObject | undefined> {
    const where = this.deps.placement.locate(key);
    // N=1 and this node is the replica: its copy is the answer, with nobody to
    // wait for or repair (r and pr cannot exceed N).
    if (where.primaries.length === 1 && where.primaries[0] === this.deps.self && (where.pending?.length ?? 0) === 0) {
      return this.deps.replica.read(where.partition, key);
    }
    return readQuorum(this.deps, this.repairs, where.partition, key, where, quorum);
  }

  async put(key: string, write: WriteRequest, quorum: WriteQuorum): Promise<VersionedObject> {
    const where = this.deps.placement.locate(key);
    const next: NewValue = { value: write.value, contentType: write.contentType, deleted: false, lastModifiedMs: this.deps.clock.now() };
    if (where.primaries.includes(this.deps.self)) return this.coordinateWrite(where, key, write.context, next, quorum);
    const forwarded = await this.forward(where, {
      op: 'put',
      key,
      value: write.value,
      contentType: write.contentType,
      context: write.context.map(([a, c]) => [a, c]),
      ...quorum,
    }, quorum);
    return forwarded ?? this.coordinateAsFallback(where, key, () => this.coordinateWrite(where, key, write.context, next, quorum), quorum);
  }

  /** A tombstone with `context`, or with the context read at `r` when the client gave none. */
  async delete(key: string, context: VersionVector | undefined, quorum: WriteQuorum & { r: number; pr: number }): Promise<VersionedObject> {
    const where = this.deps.placement.locate(key);
    if (!where.primaries.includes(this.deps.self)) {
      const forwarded = await this.forward(where, {
        op: 'delete',
        key,
        context: context === undefined ? null : context.map(([a, c]) => [a, c]),
        w: quorum.w,
        pw: quorum.pw,
        r: quorum.r,
        pr: quorum.pr,
        timeoutMs: quorum.timeoutMs,
      }, quorum);
      return forwarded ?? this.coordinateAsFallback(where, key, () => this.deleteHere(where, key, context, quorum), quorum);
    }
    return this.deleteHere(where, key, context, quorum);
  }

  /** Runs a request another node forwarded to us; never forwards again (no loops while views differ). */
  async coordinateForwarded(request: ForwardedOp): Promise<PeerReply> {
    try {
      const where = this.deps.placement.locate(request.key);
      let object: VersionedObject | undefined;
      switch (request.op) {
        case 'get':
          object = await readQuorum(this.deps, this.repairs, where.partition, request.key, where, request);
          break;
        case 'put': {
          const next: NewValue = { value: request.value, contentType: request.contentType, deleted: false, lastModifiedMs: this.deps.clock.now() };
          object = await this.coordinateWrite(where, request.key, vectorFromWire(request.context), next, request);
          break;
        }
        case 'delete': {
          const context = request.context === null ? undefined : vectorFromWire(request.context);
          object = await this.deleteHere(where, request.key, context, request);
          break;
        }
      }
      return { type: 'coordinated', object: object === undefined ? null : toWire(object) };
    } catch (error) {
      if (error instanceof DynakvError) return { type: 'error', code: error.code, message: error.message, details: error.details };
      return { type: 'error', code: 'internal', message: error instanceof Error ? error.message : String(error) };
    }
  }

  private async deleteHere(where: Preflist, key: string, context: VersionVector | undefined, quorum: WriteQuorum & { r: number; pr: number }): Promise<VersionedObject> {
    let seen = context;
    if (seen === undefined) {
      const read = await readQuorum(this.deps, this.repairs, where.partition, key, where, { ...quorum, repairSync: false });
      seen = read?.vv ?? [];
    }
    const tombstone: NewValue = { value: new Uint8Array(0), contentType: 'application/octet-stream', deleted: true, lastModifiedMs: this.deps.clock.now() };
    return this.coordinateWrite(where, key, seen, tombstone, quorum);
  }

  private async coordinateWrite(where: Preflist, key: string, context: VersionVector, next: NewValue, quorum: WriteQuorum): Promise<VersionedObject> {
    const epochs = this.deps.keyEpochs;
    if (!epochs.isReady) await epochs.ready;
    // Everything this node holds for the key, hints included: a fallback
    // coordinator's own earlier dots live in its hint queue, not its store.
    const local = localAnswer(this.deps, where.partition, key, true) ?? undefined;
    // Only a primary keeps the new dot in its own store, so only a primary may
    // go on counting in the epoch its copy shows. A node coordinating as a
    // fallback or for a stale forwarder keeps nothing lasting (hints are handed
    // off and dropped): minting from its old copy again would name a second
    // write with the same dot, and replicas keep one of the two (sim seed 232
    // with --changes). It starts a fresh epoch instead.
    const keepsDot = where.primaries.includes(this.deps.self);
    const object = update(local, context, epochs.actorFor(keepsDot ? local?.vv : undefined), next, this.deps.siblingsMax);
    return replicateWrite(this.deps, where.partition, key, object, where, quorum);
  }

  /**
   * Hands a write to the first reachable primary; undefined when none is. A
   * primary that cannot be reached is skipped; one that answers with an error
   * is final (retrying elsewhere could apply the write twice as two siblings).
   */
  private async forward(where: Preflist, request: ForwardedOp, quorum: WriteQuorum): Promise<VersionedObject | undefined> {
    this.forwarded++;
    for (const target of where.primaries) {
      if (!this.deps.isAvailable(target)) continue;
      let reply: PeerReply;
      try {
        reply = await this.deps.transport.request(target, { type: 'coordinate', request }, quorum.timeoutMs + FORWARD_TIMEOUT_SLACK_MS);
      } catch {
        continue;
      }
      if (reply.type === 'coordinated' && reply.object !== null) return fromWire(reply.object);
      // It has left (our ring is older than its): it refused before doing anything, so the next may take it.
      if (reply.type === 'error' && reply.code === LEFT_CLUSTER_CODE) continue;
      if (reply.type === 'error') {
        throw new DynakvError(isErrorCode(reply.code) ? reply.code : 'internal', reply.message, reply.details ?? {});
      }
      throw new DynakvError('internal', `unexpected reply ${reply.type} from ${target}`);
    }
    return undefined;
  }

  /**
   * No primary could be reached: with sloppy quorum this node coordinates
   * itself (DESIGN §5: the first reachable fallback), its copies going to
   * fallbacks as hints; without it the write cannot be taken.
   */
  private coordinateAsFallback(where: Preflist, key: string, write: () => Promise<VersionedObject>, quorum: WriteQuorum): Promise<VersionedObject> {
    if (this.deps.sloppyQuorum) {
      this.fallbackCoordinated++;
      return write();
    }
    return Promise.reject(
      new DynakvError('quorum_not_met', `no primary of partition ${where.partition} could be reached to coordinate the write`, {
        required: quorum.w,
        acknowledged: 0,
      }),
    );
  }
}

