/**
 * `dynakv/client` — the client SDK of dynakv (DESIGN §8a).
 *
 * ```ts
 * import { Client, DynakvError } from 'dynakv/client';
 * const db = new Client({ nodes: ['http://127.0.0.1:7001'], r: 'quorum', w: 'quorum', timeoutMs: 5000 });
 * const got = await db.get('cart:42', { r: 'all' });
 * await db.put('cart:42', { items: ['book'] }, { context: got.context, w: 2 });
 * await db.update('cart:42', (siblings) => merge(siblings), { w: 'all' });
 * await db.delete('cart:42', { context: got.context });
 * await db.close();
 * ```
 *
 * See src/client/README.md ("Client SDK") for the routing, retry and error model.
 */
export { Client, type ClientStats, type Resolver, type UpdateResult, type WriteResult } from './client.js';
export { DynakvError, SiblingsError, type DynakvErrorCode, type DynakvErrorDetails } from './errors.js';
export type {
  CallOptions,
  ClientOptions,
  Consistency,
  DeleteOptions,
  GetOptions,
  PrimaryConsistency,
  PutOptions,
  UpdateOptions,
} from './options.js';
export type { Placement } from './topology.js';
export {
  BYTES_CONTENT_TYPE,
  ENVELOPE_MEDIA_TYPE,
  JSON_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
  type GetResult,
  type JsonValue,
  type PutValue,
  type Sibling,
} from './values.js';
