import { LIMITS } from '../limits.js';
import type { NodeId } from '../messages.js';
import type { Preflist } from '../ring/ring.js';
import { packObject, unpackObject } from '../version/codec.js';
import { EMPTY_OBJECT, isBehind, merge } from '../version/dvv.js';
import type { VersionedObject } from '../version/types.js';
import type { CoordinatorDeps } from './context.js';
import { QuorumCount } from './quorum.js';
import { Substitutes } from './substitutes.js';
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
 * Asks the key's N replica slots (each primary, or for a failed one the next
 * available fallback); answers with the merge of the first `r` answers (`pr`
 * of them from primaries). Once all have answered (or the timeout passed) the
 * merge of everything heard goes back to each primary found behind: read
 * repair, awaited before answering only with `repairSync`.
 */
export function readQuorum(
  deps: CoordinatorDeps,
  repairs: ReadRepairStats,
  partition: number,
  key: string,
  where: Preflist,
  quorum: ReadQuorum,
): Promise<VersionedObject | undefined> {
  const answers = new Map<NodeId, Answer>();
  const primaryAnswers = new Map<NodeId, Answer>();
  const count = new QuorumCount(quorum.r, quorum.pr, where.primaries.length, where.primaries.length);
  const substitutes = new Substitutes(deps, where.fallbacks);
  // Old primaries still handing the partition off are asked too, and waited
  // for (up to the timeout): a new primary may not hold the key yet. They add
  // to the merge but not to r, and are not read-repaired.
  const handoffSources = (where.pending ?? []).filter((id) => !where.primaries.includes(id));
  let handoffsOutstanding = handoffSources.length;
  // This node's own stored copy, packed: a replica whose bytes equal it holds
  // the same object, so the common all-agree read decodes and merges nothing.
  let own: LocalCopy | undefined;
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
      const repaired = repairReplicas(deps, repairs, partition, key, primaryAnswers, merged);
      if (quorum.repairSync) repaired.then(() => reply(merged), () => reply(merged));
      else reply(merged);
    };
    const onAnswer = (owner: NodeId, from: NodeId, answer: Answer | Error): void => {
      if (closed) return;
      if (answer instanceof Error) {
        const next = substitutes.next();
        if (next !== undefined) return ask(owner, next);
        count.fail(true);
      } else {
        answers.set(from, answer);
        if (owner === from) primaryAnswers.set(from, answer);
        count.ack(owner === from);
      }
      settle();
    };
    const settle = (): void => {
      if (handoffsOutstanding > 0) return;
      if (count.met() && !quorum.repairSync) reply(mergeAnswers(answers));
      if (count.complete()) close();
    };
    const onHandoffAnswer = (from: NodeId, answer: Answer | Error): void => {
      if (closed) return;
      handoffsOutstanding--;
      if (!(answer instanceof Error) && !answers.has(from)) answers.set(from, answer);
      settle();
    };
    const ask = (owner: NodeId, target: NodeId): void => {
      const fallback = owner !== target;
      if (target === deps.self) {
        if (fallback) return onAnswer(owner, target, localAnswer(deps, partition, key, true));
        own = localCopy(deps, partition, key);
        onAnswer(owner, target, own.object);
      } else if (!deps.isAvailable(target)) {
        onAnswer(owner, target, new Error('unavailable'));
      } else {
        askReplica(deps, target, partition, key, fallback, quorum.timeoutMs).then((reply) => onAnswer(owner, target, decodeAnswer(reply, own)));
      }
    };
    const timer = deps.clock.setTimer(quorum.timeoutMs, close);
    for (const owner of where.primaries) ask(owner, owner);
    for (const source of handoffSources) {
      if (source === deps.self) onHandoffAnswer(source, localAnswer(deps, partition, key, false));
      else if (!deps.isAvailable(source)) onHandoffAnswer(source, new Error('unavailable'));
      else askReplica(deps, source, partition, key, false, quorum.timeoutMs).then((reply) => onHandoffAnswer(source, decodeAnswer(reply, own)));
    }
  });
}

/** This node's answer: its stored copy, plus, as a fallback, what it holds in hints. */
export function localAnswer(deps: CoordinatorDeps, partition: number, key: string, withHints: boolean): Answer {
  const stored = deps.replica.read(partition, key);
  const hinted = withHints ? deps.hints.objectFor(partition, key) : undefined;
  if (hinted === undefined) return stored ?? null;
  return stored === undefined ? hinted : merge(stored, hinted);
}

interface LocalCopy {
  object: Answer;
  packed: Uint8Array | undefined;
}

/** This node's stored copy (no hints), decoded once from the bytes a replica's answer is compared with. */
function localCopy(deps: CoordinatorDeps, partition: number, key: string): LocalCopy {
  const packed = deps.replica.readPacked(partition, key);
  return { object: packed === undefined ? null : unpackObject(packed), packed };
}

/** Packed bytes of a replica's copy, or the error that kept it from answering. */
async function askReplica(
  deps: CoordinatorDeps,
  target: NodeId,
  partition: number,
  key: string,
  fallback: boolean,
  timeoutMs: number,
): Promise<Uint8Array | null | Error> {
  try {
    const message = { type: 'read' as const, partition, key, ...(fallback ? { hints: true } : {}) };
    const reply = await deps.transport.request(target, message, timeoutMs);
    if (reply.type !== 'object') return new Error(`unexpected reply ${reply.type}`);
    if (reply.packed !== null && !(reply.packed instanceof Uint8Array)) return new Error('malformed object reply');
    return reply.packed;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * A replica's answer as an object: this node's own when the bytes are equal
 * (then merge and read repair see one object and do nothing), else decoded and
 * validated. Undecodable bytes count as a failed replica, not a crash.
 */
function decodeAnswer(reply: Uint8Array | null | Error, own: LocalCopy | undefined): Answer | Error {
  if (reply === null || reply instanceof Error) return reply;
  if (own?.packed !== undefined && own.packed.length === reply.length && Buffer.compare(own.packed, reply) === 0) return own.object;
  try {
    // A slice of the peer's whole reply batch: the merged result may outlive it (read repair, hints).
    return unpackObject(reply, { copyValues: true });
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
  let packed: Uint8Array | undefined;
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
      packed ??= packObject(merged);
      const message = { type: 'replicate' as const, partition, key, object: packed };
      pending.push(deps.transport.request(node, message, LIMITS.peerRequestTimeoutMsDefault).then(done, done));
    }
  }
  return Promise.all(pending);
}
