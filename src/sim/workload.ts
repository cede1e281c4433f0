import { assert } from '../core/assert.js';
import { DynakvError } from '../core/errors.js';
import type { NodeId } from '../core/messages.js';
import { liveSiblings } from '../core/version/dvv.js';
import type { VersionedObject, VersionVector } from '../core/version/types.js';
import { ClientRefusedError, type SimCluster } from './cluster.js';
import type { Prng } from './prng.js';

/**
 * A shopping-cart set workload (Jepsen's set test on a Dynamo store). Each of
 * K clients loops: pick a cart key and a random node, read it (r), take the
 * union of every sibling's items (JSON arrays of strings), add one new unique
 * item, and write the result with the read's causal context (w). Every add
 * is recorded with its outcome:
 *  - acked: the put resolved;
 *  - failed: definitely not applied (connection refused before the node got
 *    it, or an error the coordinator raises before writing anything);
 *  - unknown: timed out, reset, or quorum_not_met ("may be partly applied").
 */

export interface WorkloadConfig {
  clients: number;
  keys: number;
  /** Client iterations (read + add) in one safety phase, over all clients. */
  steps: number;
  r: number;
  w: number;
  /** The timeout the client passes to the coordinator (?timeout=). */
  timeoutMs: number;
  /** The client's own give-up time for one HTTP request, beyond the coordinator's. */
  clientSlackMs: number;
  thinkMsMin: number;
  thinkMsMax: number;
}

export type AddOutcome = 'pending' | 'acked' | 'failed' | 'unknown';

export interface AddRecord {
  readonly item: string;
  readonly key: string;
  readonly client: number;
  readonly node: NodeId;
  readonly startMs: number;
  endMs: number;
  outcome: AddOutcome;
  error: string | undefined;
}

/** Errors a coordinator raises before it writes anything: the add definitely did not happen. */
const DEFINITE_FAILURES: ReadonlySet<string> = new Set(['too_many_siblings', 'invalid_key', 'invalid_parameter', 'invalid_context', 'value_too_large']);

const CONTENT_TYPE = 'application/json';

export class Workload {
  readonly keys: string[];
  readonly adds: AddRecord[] = [];
  /** The context each written value was written with (values are unique: each holds its new item). */
  readonly contextByValue = new Map<string, VersionVector>();
  readonly reads = { ok: 0, failed: 0 };
  /** Client iterations started in the current safety phase. */
  private started = 0;
  private running = 0;
  private budget = 0;
  private readonly nextItem: number[];

  constructor(
    private readonly cluster: SimCluster,
    private readonly random: Prng,
    readonly config: WorkloadConfig,
    /** Every object a client saw (read results, put results), for invariant checks. */
    private readonly onObject: (where: string, key: string, object: VersionedObject) => void,
  ) {
    assert(config.clients >= 1 && config.keys >= 1 && config.steps >= 0, 'workload: bad config');
    assert(config.thinkMsMin >= 0 && config.thinkMsMin <= config.thinkMsMax, 'workload: bad think time');
    this.keys = Array.from({ length: config.keys }, (_, i) => `cart:${i + 1}`);
    this.nextItem = new Array<number>(config.clients).fill(0);
  }

  /** Starts K clients for one safety phase of `config.steps` iterations. */
  start(): void {
    assert(this.running === 0, 'workload: already running');
    this.started = 0;
    this.budget = this.config.steps;
    for (let c = 0; c < this.config.clients; c++) {
      this.running++;
      const random = this.random.fork(`client-${c}`);
      this.loop(c, random).then(
        () => this.running--,
        (error: unknown) => {
          this.running--;
          this.cluster.reportBug(`workload client ${c} crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        },
      );
    }
  }

  /** No client issues another iteration; those in flight finish. */
  stop(): void {
    this.budget = this.started;
  }

  get idle(): boolean {
    return this.running === 0;
  }

  /** Iterations started over the whole run. */
  get ops(): number {
    return this.adds.length + this.reads.failed;
  }

  count(outcome: AddOutcome): number {
    let n = 0;
    for (const add of this.adds) if (add.outcome === outcome) n++;
    return n;
  }

  private async loop(client: number, random: Prng): Promise<void> {
    for (;;) {
      await this.sleep(random.between(this.config.thinkMsMin, this.config.thinkMsMax), `c${client} think`);
      if (this.started >= this.budget) return;
      this.started++;
      // The current members: a client learns of added nodes and stops using left ones (like the SDK's topology refresh).
      await this.iteration(client, random.pick(this.keys), random.pick(this.cluster.ids));
    }
  }

  private async iteration(client: number, key: string, node: NodeId): Promise<void> {
    const { r, w, timeoutMs } = this.config;
    const clientTimeoutMs = timeoutMs + this.config.clientSlackMs;
    const trace = this.cluster.scheduler.trace;
    let read: VersionedObject | undefined;
    try {
      read = await this.cluster.call(node, `c${client} get ${key}`, clientTimeoutMs, (kv) => kv.get(key, { r, pr: 0, timeoutMs, repairSync: false }));
    } catch (error) {
      this.reads.failed++;
      trace.record(`${this.now} c${client} get ${key}@${node} failed: ${describe(error)}`);
      return;
    }
    this.reads.ok++;
    if (read !== undefined) this.onObject(`read ${key}@${node}`, key, read);
    const item = `c${client}-${++this.nextItem[client]!}`;
    const items = [...itemsOf(read), item].sort();
    const value = JSON.stringify(items);
    const context = read?.vv ?? [];
    this.contextByValue.set(value, context);
    const add: AddRecord = { item, key, client, node, startMs: this.now, endMs: -1, outcome: 'pending', error: undefined };
    this.adds.push(add);
    trace.record(`${this.now} c${client} add ${item} to ${key}@${node}`);
    try {
      const written = await this.cluster.call(node, `c${client} put ${key}`, clientTimeoutMs, (kv) =>
        kv.put(key, { value: Buffer.from(value, 'utf8'), contentType: CONTENT_TYPE, context }, { w, pw: 0, timeoutMs }),
      );
      add.outcome = 'acked';
      this.onObject(`put ${item} ${key}@${node}`, key, written);
    } catch (error) {
      add.outcome = isDefiniteFailure(error) ? 'failed' : 'unknown';
      add.error = describe(error);
      if (isCoreBug(error)) this.cluster.reportBug(`put ${item} to ${key}@${node}: ${add.error}`);
    }
    add.endMs = this.now;
    trace.record(`${this.now} c${client} add ${item} ${add.outcome}${add.error === undefined ? '' : `: ${add.error}`}`);
  }

  private get now(): number {
    return this.cluster.scheduler.nowMs;
  }

  private sleep(ms: number, label: string): Promise<void> {
    return new Promise<void>((resolve) => this.cluster.scheduler.after(ms, label, resolve));
  }
}

/** The union of the items of every live sibling. Throws on a value no client wrote (corruption). */
export function itemsOf(object: VersionedObject | undefined): Set<string> {
  const items = new Set<string>();
  if (object === undefined) return items;
  for (const sibling of liveSiblings(object)) {
    for (const item of parseItems(Buffer.from(sibling.value).toString('utf8'))) items.add(item);
  }
  return items;
}

export function parseItems(text: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`not a cart value: ${text.slice(0, 80)}`);
  return parsed as string[];
}

function isDefiniteFailure(error: unknown): boolean {
  if (error instanceof ClientRefusedError) return true;
  return error instanceof DynakvError && DEFINITE_FAILURES.has(error.code);
}

/** Anything but the documented, expected failures is a bug of the code under test. */
function isCoreBug(error: unknown): boolean {
  if (error instanceof DynakvError) return error.code === 'internal';
  return !(error instanceof Error && /^Client(Refused|Reset|Timeout)Error$/.test(error.name));
}

function describe(error: unknown): string {
  if (error instanceof DynakvError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
