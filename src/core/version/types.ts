/**
 * An actor is the identity that mints dots: a node id plus the epoch of its
 * data directory ("n1.k3x9"). A wiped node gets a new epoch, so it can never
 * mint a dot that already names a different value elsewhere (Riak's vnode epochs).
 */
export type ActorId = string;

/** One event: the `counter`-th write coordinated by `actor`. */
export interface Dot {
  readonly actor: ActorId;
  readonly counter: number;
}

/**
 * A version vector, canonical form: entries sorted by actor, counters > 0,
 * no duplicate actors. It is also the client's opaque causal context.
 */
export type VersionVector = ReadonlyArray<readonly [ActorId, number]>;

/** One concurrent value of a key, named by the dot of the write that made it. */
export interface Sibling {
  readonly dot: Dot;
  readonly value: Uint8Array;
  readonly contentType: string;
  /** A tombstone: a delete that still takes part in causality. */
  readonly deleted: boolean;
  /** Coordinator's wall clock at write time, for display and tombstone reaping only. */
  readonly lastModifiedMs: number;
}

/**
 * The stored object of a key: a dotted version vector set. `vv` is every dot
 * this object has seen (including those of siblings it dropped); `siblings` are
 * the values not yet superseded, sorted by dot, each dot at most once.
 * Invariant: every sibling's dot is covered by `vv`.
 */
export interface VersionedObject {
  readonly vv: VersionVector;
  readonly siblings: readonly Sibling[];
}
