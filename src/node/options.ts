/** Everything `dynakv start` accepts (each flag also as a DYNAKV_* env var). */
export interface NodeOptions {
  /** Node id, e.g. "n1". Stable across restarts. */
  id: string;
  /** Public API listen address host:port. */
  api: string;
  /** Peer (internode) listen address host:port. */
  peer: string;
  /** Peer addresses host:port used only to bootstrap membership. May include this node's own. */
  seeds: string[];
  /** Data directory (created if missing). */
  data: string;
  /** N, default 3. */
  replicas: number;
  /** Q, default 256, a power of two, fixed at cluster creation. */
  partitions: number;
  zone: string | undefined;
  /** fsync: durable group commits (default); none: the OS decides when data reaches disk. */
  sync: 'fsync' | 'none';
  hintedHandoff: boolean;
  antiEntropy: boolean;
  /** Cap on value size in bytes (default 1 MiB). */
  maxValueBytes: number;
  /** Grace period before tombstones are reaped, in ms (default 1 h). */
  tombstoneGraceMs: number;
  /** Enables the partition/heal fault hook; only clusters made by `dynakv cluster` set it. */
  faultInjection: boolean;
  /** pino level: fatal|error|warn|info|debug|trace|silent. */
  logLevel: string;
}

export const NODE_DEFAULTS = {
  replicas: 3,
  partitions: 256,
  sync: 'fsync',
  hintedHandoff: true,
  antiEntropy: true,
  maxValueBytes: 1024 * 1024,
  tombstoneGraceMs: 60 * 60 * 1000,
  faultInjection: false,
  logLevel: 'info',
} as const satisfies Partial<NodeOptions>;

/** A started node. `close` stops serving, flushes storage and releases ports. */
export interface RunningNode {
  readonly id: string;
  readonly apiAddress: string;
  readonly peerAddress: string;
  close(): Promise<void>;
  /** Resolves when the node has left the cluster (`POST /v1/admin/leave` finished) and closed itself. */
  readonly left?: Promise<void>;
}
