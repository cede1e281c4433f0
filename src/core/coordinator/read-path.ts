import { LIMITS } from '../limits.js';
import type { NodeId } from '../messages.js';
import { fromWire, toWire } from '../version/codec.js';
import { EMPTY_OBJECT, isBehind, merge } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';
import type { CoordinatorDeps } from './context.js';
import { QuorumCount } from './quorum.js';
import { quorumNotMet } from './write-path.js';

export interface ReadQuorum {
  r: number;
  pr: number;
  timeoutMs: number;
  repairSync: boolean;
}

/** Counters a node reports; read repair is bounded so a read storm cannot queue unbounded writes. */
export class ReadRepairStats {
  inflight = 0;
  sent = 0;
  skipped = 0;
}

type Answer = VersionedObject | null;

/**
 * Asks every primary; answers with the merge of the first `r` answers (`pr`
 * primaries). When all have answered (or the timeout passes) the merge of
 * everything heard goes back to each replica found behind: read repair,
 * awaited before answering only with `repairSync`.
 */
export function readQuorum(
  deps: CoordinatorDeps,
  repairs: ReadRepairStats,
  partition: number,
  key: string,
  primaries: readonly NodeId[],
  quorum: ReadQuorum,
): Promise<VersionedObject | undefined> {
  const answers = new Map<NodeId, Answer>();
  const count = new QuorumCount(quorum.r, quorum.pr, primaries.length, primaries.length);
  return new Promise<VersionedObject | undefined>((resolve, reject) => {
    let answered = false;
    let closed = false;
    const reply = (result: VersionedObject | undefined | Error): void => {
      if (answered) return;
      answered = true;
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const close = (): void => {
      if (closed) return;
      closed = true;
      deps.clock.clearTimer(timer);
      if (!count.met()) return reply(quorumNotMet(count, 'read'));
      const merged = mergeAnswers(answers);
      const repaired = repairReplicas(deps, repairs, partition, key, answers, merged);
      if (quorum.repairSync) repaired.then(() => reply(merged), () => reply(merged));
      else reply(merged);
    };
    const onAnswer = (from: NodeId, answer: Answer | Error): void => {
      if (closed) return;
      if (answer instanceof Error) count.fail(true);
      else {
        answers.set(from, answer);
        count.ack(true);
      }
      if (count.met() && !quorum.repairSync) reply(mergeAnswers(answers));
      if (count.complete()) close();
    };
    const timer = deps.clock.setTimer(quorum.timeoutMs, close);
    for (const target of primaries) {
      if (target === deps.self) {
        onAnswer(target, deps.replica.read(partition, key) ?? null);
      } else if (!deps.isAvailable(target)) {
        onAnswer(target, new Error('unavailable'));
      } else {
        askReplica(deps, target, partition, key, quorum.timeoutMs).then((a) => onAnswer(target, a));
      }
    }
  });
}

async function askReplica(
  deps: CoordinatorDeps,
  target: NodeId,
  partition: number,
  key: string,
  timeoutMs: number,
): Promise<Answer | Error> {
  try {
    const reply = await deps.transport.request(target, { type: 'read', partition, key }, timeoutMs);
    if (reply.type !== 'object') return new Error(`unexpected reply ${reply.type}`);
    return reply.object === null ? null : fromWire(reply.object);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function mergeAnswers(answers: ReadonlyMap<NodeId, Answer>): VersionedObject | undefined {
  let merged: VersionedObject | undefined;
  for (const answer of answers.values()) {
    if (answer === null) continue;
    merged = merged === undefined ? answer : merge(merged, answer);
  }
  return merged;
}

/** Sends `merged` to every answering replica that lacked part of it; resolves when all acknowledged or failed. */
function repairReplicas(
  deps: CoordinatorDeps,
  repairs: ReadRepairStats,
  partition: number,
  key: string,
  answers: ReadonlyMap<NodeId, Answer>,
  merged: VersionedObject | undefined,
): Promise<unknown> {
  if (merged === undefined) return Promise.resolve();
  const pending: Array<Promise<unknown>> = [];
  let wire: ReturnType<typeof toWire> | undefined;
  for (const [node, answer] of answers) {
    if (!isBehind(answer ?? undefined, merged)) continue;
    if (repairs.inflight >= LIMITS.readRepairsInflightMax) {
      repairs.skipped++;
      continue;
    }
    repairs.inflight++;
    repairs.sent++;
    const done = (): void => {
      repairs.inflight--;
    };
    if (node === deps.self) {
      pending.push(deps.replica.apply(partition, key, merge(answer ?? EMPTY_OBJECT, merged)).then(done, done));
    } else {
      wire ??= toWire(merged);
      const message = { type: 'replicate' as const, partition, key, object: wire };
      pending.push(deps.transport.request(node, message, LIMITS.peerRequestTimeoutMsDefault).then(done, done));
    }
  }
  return Promise.all(pending);
}
