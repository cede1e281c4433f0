import { DynakvError } from '../errors.js';
import type { NodeId } from '../messages.js';
import { toWire } from '../version/codec.js';
import type { VersionedObject } from '../version/types.js';
import type { CoordinatorDeps } from './context.js';
import { QuorumCount } from './quorum.js';

export interface WriteQuorum {
  w: number;
  pw: number;
  timeoutMs: number;
}

/**
 * Stores `object` locally and sends it to the other replicas; resolves once `w`
 * acknowledged (`pw` of them primaries), rejects with quorum_not_met once every
 * replica has answered short of that, or the timeout passes. Replicas that answer later still
 * apply the write: the request's outcome never cancels replication.
 */
export function replicateWrite(
  deps: CoordinatorDeps,
  partition: number,
  key: string,
  object: VersionedObject,
  primaries: readonly NodeId[],
  quorum: WriteQuorum,
): Promise<VersionedObject> {
  const others = primaries.filter((id) => id !== deps.self);
  const selfIsPrimary = others.length !== primaries.length;
  const count = new QuorumCount(quorum.w, quorum.pw, others.length + 1, primaries.length);
  return new Promise<VersionedObject>((resolve, reject) => {
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      deps.clock.clearTimer(timer);
      if (count.met()) resolve(object);
      else reject(quorumNotMet(count, 'write'));
    };
    const answer = (primary: boolean, ok: boolean): void => {
      if (settled) return;
      if (ok) count.ack(primary);
      else count.fail(primary);
      // A doomed write still waits for the replicas in flight (bounded by the
      // timeout), so `acknowledged` tells the client how much of it was applied.
      if (count.met() || count.complete()) finish();
    };
    const timer = deps.clock.setTimer(quorum.timeoutMs, finish);
    deps.replica.apply(partition, key, object).then(
      () => answer(selfIsPrimary, true),
      () => answer(selfIsPrimary, false),
    );
    if (others.length === 0) return;
    const message = { type: 'replicate' as const, partition, key, object: toWire(object) };
    for (const target of others) {
      if (!deps.isAvailable(target)) {
        answer(true, false);
        continue;
      }
      deps.transport.request(target, message, quorum.timeoutMs).then(
        (reply) => answer(true, reply.type === 'ack'),
        () => answer(true, false),
      );
    }
  });
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
