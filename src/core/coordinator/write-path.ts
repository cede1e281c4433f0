import { DynakvError } from '../errors.js';
import type { NodeId } from '../messages.js';
import type { Preflist } from '../ring/ring.js';
import { packObject } from '../version/codec.js';
import type { VersionedObject } from '../version/types.js';
import type { CoordinatorDeps } from './context.js';
import { QuorumCount } from './quorum.js';
import { Substitutes } from './substitutes.js';

export interface WriteQuorum {
  w: number;
  pw: number;
  timeoutMs: number;
}

/**
 * Sends `object` to the key's N replica slots: each primary, or, when a primary
 * is down or fails, the next available fallback with a hint naming it (sloppy
 * quorum). Resolves once `w` slots acknowledged durably (`pw` of them by their
 * primaries); otherwise rejects with quorum_not_met after every slot answered
 * or the timeout passed. The request's outcome never cancels replication:
 * slots still in flight finish, and fail over to fallbacks, in the background.
 */
export function replicateWrite(
  deps: CoordinatorDeps,
  partition: number,
  key: string,
  object: VersionedObject,
  where: Preflist,
  quorum: WriteQuorum,
): Promise<VersionedObject> {
  const slots = where.primaries;
  const count = new QuorumCount(quorum.w, quorum.pw, slots.length, slots.length);
  const substitutes = new Substitutes(deps, where.fallbacks);
  // Packed once: the same bytes go to every replica and to this node's own store.
  const packed = packObject(object);
  return new Promise<VersionedObject>((resolve, reject) => {
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      deps.clock.clearTimer(timer);
      if (count.met()) resolve(object);
      else reject(quorumNotMet(count, 'write'));
    };
    deps.slotsInFlight.count += slots.length;
    const slotDone = (byPrimary: boolean, ok: boolean): void => {
      deps.slotsInFlight.count--;
      if (ok) count.ack(byPrimary);
      else count.fail(true);
      // A doomed write still waits for the slots in flight (bounded by the
      // timeout), so `acknowledged` tells the client how much of it was applied.
      if (count.met() || count.complete()) finish();
    };
    const failOver = (owner: NodeId): void => {
      const next = substitutes.next();
      if (next !== undefined) return send(owner, next);
      // No fallback left: keep a hint here anyway so the owner still gets the
      // write when it returns, but it does not count: one node is one ack.
      if (deps.sloppyQuorum && owner !== deps.self) {
        deps.hints.add(owner, partition, key, object, deps.clock.now()).catch(() => undefined);
      }
      slotDone(true, false);
    };
    const send = (owner: NodeId, target: NodeId): void => {
      const hinted = owner !== target;
      if (target === deps.self) {
        const stored = hinted
          ? deps.hints.add(owner, partition, key, object, deps.clock.now())
          : deps.replica.apply(partition, key, object, packed);
        stored.then(() => slotDone(!hinted, true), () => failOver(owner));
        return;
      }
      const message = { type: 'replicate' as const, partition, key, object: packed, ...(hinted ? { hint: owner } : {}) };
      deps.transport.request(target, message, quorum.timeoutMs).then(
        (reply) => (reply.type === 'ack' ? slotDone(!hinted, true) : failOver(owner)),
        () => failOver(owner),
      );
    };
    const timer = deps.clock.setTimer(quorum.timeoutMs, finish);
    for (const owner of slots) {
      if (owner === deps.self || deps.isAvailable(owner)) send(owner, owner);
      else failOver(owner);
    }
    for (const old of where.pending ?? []) sendToHandoffSource(deps, partition, key, object, packed, old, quorum.timeoutMs);
  });
}

/**
 * An old primary still streaming the partition to its new owner gets every
 * write as well (dual writes), so a copy it hands off or keeps serving reads
 * from is never behind. Not counted toward `w`: the new primary's own slot is
 * what acknowledges; this one is best effort, and a miss costs nothing.
 */
function sendToHandoffSource(deps: CoordinatorDeps, partition: number, key: string, object: VersionedObject, packed: Uint8Array, target: NodeId, timeoutMs: number): void {
  if (target === deps.self) {
    deps.replica.apply(partition, key, object, packed).catch(() => undefined);
    return;
  }
  if (!deps.isAvailable(target)) return;
  deps.transport.request(target, { type: 'replicate', partition, key, object: packed }, timeoutMs).catch(() => undefined);
}

export function quorumNotMet(count: QuorumCount, what: 'write' | 'read'): DynakvError {
  const { required, acknowledged, primary } = count.shortfall();
  const whom = primary ? 'primary replicas' : 'replicas';
  return new DynakvError(
    'quorum_not_met',
    `${what} needed ${required} ${whom} but ${acknowledged} acknowledged in time` +
      (what === 'write' ? '; the write may be partly applied' : ''),
    { required, acknowledged },
  );
}
