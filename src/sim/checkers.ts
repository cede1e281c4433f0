import type { NodeId } from '../core/messages.js';
import { equalObjects } from '../core/version/dvv.js';
import type { VersionedObject, VersionVector } from '../core/version/types.js';
import { compareDots, covers, descends, isCanonicalVV } from '../core/version/vector.js';
import type { SimCluster } from './cluster.js';
import type { AddRecord } from './workload.js';

/**
 * The checkers (DESIGN §9): pure functions of what the run recorded and what
 * the stores hold. Each returns human-readable violations; empty means pass.
 */

/** Violations listed per checker before the rest are only counted. */
const VIOLATIONS_LISTED_MAX = 20;
/** Keys scanned per partition and call when walking a whole store. */
const SCAN_BATCH = 1024;

// ---- 1. the set checker (Jepsen) ------------------------------------------

export interface SetReport {
  attempted: number;
  acked: number;
  /** Acknowledged, durable by the wipe rule, but absent from the final read: the failure that matters. */
  lost: string[];
  /** Acknowledged with w=1 before a wipe that may have destroyed its only copy, and absent: allowed, counted. */
  lostToWipe: number;
  /** Present but never attempted by any client. */
  unexpected: string[];
  /** Failed definitely (refused before anything ran) yet present. */
  phantom: string[];
  /** Outcome unknown (timeout, reset, quorum_not_met) and present: fine, counted. */
  recovered: number;
  /** Outcome unknown and absent: fine, counted. */
  unknownAbsent: number;
}

/**
 * `finalItems` maps each key to the items of its final read (r=all, after
 * repair); `durable` says whether an acknowledged add must have survived the
 * wipes of the run (the nemesis' wipe rule).
 */
export function checkSet(adds: readonly AddRecord[], finalItems: ReadonlyMap<string, ReadonlySet<string>>, durable: (add: AddRecord) => boolean): SetReport {
  const report: SetReport = { attempted: adds.length, acked: 0, lost: [], lostToWipe: 0, unexpected: [], phantom: [], recovered: 0, unknownAbsent: 0 };
  const attempted = new Map<string, AddRecord>();
  for (const add of adds) attempted.set(`${add.key}\u0000${add.item}`, add);
  for (const add of adds) {
    const present = finalItems.get(add.key)?.has(add.item) ?? false;
    switch (add.outcome) {
      case 'acked':
        report.acked++;
        if (present) break;
        if (durable(add)) report.lost.push(`${add.item} in ${add.key} (acked by ${add.node} at t=${add.endMs})`);
        else report.lostToWipe++;
        break;
      case 'failed':
        if (present) report.phantom.push(`${add.item} in ${add.key} (${add.error ?? 'failed'})`);
        break;
      case 'unknown':
      case 'pending':
        if (present) report.recovered++;
        else report.unknownAbsent++;
        break;
    }
  }
  for (const [key, items] of finalItems) {
    for (const item of items) if (!attempted.has(`${key}\u0000${item}`)) report.unexpected.push(`${item} in ${key}`);
  }
  return report;
}

export function setViolations(report: SetReport): string[] {
  const out: string[] = [];
  if (report.lost.length > 0) out.push(`lost ${report.lost.length} acknowledged adds: ${listed(report.lost)}`);
  if (report.unexpected.length > 0) out.push(`${report.unexpected.length} unexpected items: ${listed(report.unexpected)}`);
  if (report.phantom.length > 0) out.push(`${report.phantom.length} definitely-failed adds present: ${listed(report.phantom)}`);
  return out;
}

// ---- 2. convergence -------------------------------------------------------

/**
 * Every primary of every key holds an equal object (equalObjects: same vector,
 * same dots). Preconditions checked too: all nodes up and on the same ring.
 */
export function convergenceViolations(cluster: SimCluster, keys: readonly string[]): string[] {
  const out: string[] = [];
  const nodes = cluster.ids.map((id) => cluster.node(id));
  if (nodes.some((n) => n === undefined || cluster.host(n.id).state !== 'up')) return ['not every node is up'];
  const reference = nodes[0]!;
  const owners = reference.ring().owners.join(',');
  for (const node of nodes) {
    if (node!.ring().owners.join(',') !== owners) out.push(`${node!.id} has a different ring than ${reference.id} (members ${node!.members().map((m) => m.id).join(',')})`);
  }
  if (out.length > 0) return out;
  for (const key of keys) {
    const { partition, primaries } = reference.preflist(key);
    const copies = primaries.map((id) => ({ id, object: cluster.host(id).store.get(partition, key) }));
    const first = copies[0]!;
    for (const copy of copies.slice(1)) {
      if (!sameCopy(first.object, copy.object)) {
        out.push(`${key}: ${first.id} holds ${summarize(first.object)} but ${copy.id} holds ${summarize(copy.object)}`);
      }
    }
  }
  return out;
}

function sameCopy(a: VersionedObject | undefined, b: VersionedObject | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return equalObjects(a, b);
}

export function summarize(object: VersionedObject | undefined): string {
  if (object === undefined) return '(nothing)';
  const vv = object.vv.map(([a, c]) => `${a}:${c}`).join(',');
  const dots = object.siblings.map((s) => `${s.dot.actor}:${s.dot.counter}`).join(',');
  return `{vv [${vv}] siblings [${dots}]}`;
}

// ---- 3. object invariants and domination ----------------------------------

/**
 * A stored DVV set must be well formed: canonical vector, siblings sorted by
 * dot with no dot twice, every sibling's dot covered by the vector.
 *
 * And no sibling may be dominated by another: when a client wrote value b with
 * context C, every sibling whose dot C covers was seen by that write and must
 * be gone from any object holding b (DVV siblings are pairwise concurrent).
 * Values are unique per write (each carries its new item), so `contextOf(b)`
 * finds the write's context. The object's vector must also descend from C.
 */
export function objectViolations(where: string, object: VersionedObject, contextOf: (value: string) => VersionVector | undefined): string[] {
  const out: string[] = [];
  if (!isCanonicalVV(object.vv)) out.push(`${where}: vector not canonical ${summarize(object)}`);
  object.siblings.forEach((s, i) => {
    const prev = object.siblings[i - 1];
    if (prev !== undefined && compareDots(prev.dot, s.dot) >= 0) out.push(`${where}: siblings not sorted/unique ${summarize(object)}`);
    if (!covers(object.vv, s.dot)) out.push(`${where}: sibling ${s.dot.actor}:${s.dot.counter} outside the vector ${summarize(object)}`);
  });
  for (const b of object.siblings) {
    const context = contextOf(Buffer.from(b.value).toString('utf8'));
    if (context === undefined) continue;
    if (!descends(object.vv, context)) out.push(`${where}: vector does not descend from the context of ${b.dot.actor}:${b.dot.counter}`);
    for (const a of object.siblings) {
      if (a !== b && covers(context, a.dot)) {
        out.push(`${where}: sibling ${a.dot.actor}:${a.dot.counter} is dominated by ${b.dot.actor}:${b.dot.counter} (written with a context that had seen it) ${summarize(object)}`);
      }
    }
  }
  return out;
}

/**
 * A dot names exactly one write: the same (key, actor, counter) must carry the
 * same value everywhere it is ever seen (client reads, put results, stores,
 * hints). Two values under one dot means one of them is silently dropped by
 * the next merge (pickSameDot keeps one): a lost write that no other check
 * can attribute.
 */
export class DotRegistry {
  private readonly values = new Map<string, { fingerprint: string; where: string }>();
  readonly violations: string[] = [];

  observe(where: string, key: string, object: VersionedObject): void {
    for (const s of object.siblings) {
      const dot = `${key}\u0000${s.dot.actor}:${s.dot.counter}`;
      const fingerprint = `${s.deleted ? 'tombstone' : 'value'} ${Buffer.from(s.value).toString('utf8')}`;
      const seen = this.values.get(dot);
      if (seen === undefined) this.values.set(dot, { fingerprint, where });
      else if (seen.fingerprint !== fingerprint && this.violations.length < VIOLATIONS_LISTED_MAX) {
        this.violations.push(
          `dot ${s.dot.actor}:${s.dot.counter} of ${key} names two writes: ${seen.fingerprint.slice(0, 60)} (${seen.where}) and ${fingerprint.slice(0, 60)} (${where})`,
        );
      }
    }
  }
}

/** Every object in every node's store and hint log (primaries or not, up or down, members or left). */
export function storeViolations(cluster: SimCluster, contextOf: (value: string) => VersionVector | undefined, dots: DotRegistry): string[] {
  const out: string[] = [];
  for (const id of cluster.hosts.keys()) {
    forEachObject(cluster, id, (partition, key, object) => {
      out.push(...objectViolations(`${id} p${partition} ${key}`, object, contextOf));
      dots.observe(`${id} store`, key, object);
    });
    for (const hint of cluster.host(id).hintLog.load()) {
      out.push(...objectViolations(`${id} hint for ${hint.target} ${hint.key}`, hint.object, contextOf));
      dots.observe(`${id} hint for ${hint.target}`, hint.key, hint.object);
    }
  }
  return out;
}

function forEachObject(cluster: SimCluster, id: NodeId, visit: (partition: number, key: string, object: VersionedObject) => void): void {
  const store = cluster.host(id).store;
  for (let partition = 0; partition < cluster.config.partitions; partition++) {
    let after: string | undefined;
    for (;;) {
      const batch = store.scan(partition, after, SCAN_BATCH);
      for (const { key, object } of batch) visit(partition, key, object);
      if (batch.length < SCAN_BATCH) break;
      after = batch[batch.length - 1]!.key;
    }
  }
}

export function listed(items: readonly string[]): string {
  const shown = items.slice(0, VIOLATIONS_LISTED_MAX).join('; ');
  return items.length > VIOLATIONS_LISTED_MAX ? `${shown}; … ${items.length - VIOLATIONS_LISTED_MAX} more` : shown;
}
