import { SiblingsError } from './errors.js';

/**
 * Values as the client sees them: what `put()` accepts and how it is encoded,
 * and what `get()` returns (the sibling envelope, decoded).
 */

/** Media type of the sibling envelope; the client asks for it on every GET. */
export const ENVELOPE_MEDIA_TYPE = 'application/vnd.dynakv+json';
/** Content type of string values. */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';
/** Content type of JSON values. */
export const JSON_CONTENT_TYPE = 'application/json';
/** Content type of byte values. */
export const BYTES_CONTENT_TYPE = 'application/octet-stream';

/** A JSON value (what `JSON.stringify` accepts and `JSON.parse` returns). */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

/**
 * What `put()` stores:
 * - `Uint8Array` (a Buffer too), `ArrayBuffer` or another `ArrayBufferView`: the bytes as they are, `application/octet-stream`;
 * - `string`: its UTF-8 bytes, `text/plain; charset=utf-8`;
 * - anything else: `JSON.stringify(value)`, `application/json`.
 *
 * The `contentType` option of `put()` overrides the content type in every case.
 */
export type PutValue = Uint8Array | ArrayBuffer | ArrayBufferView | string | JsonValue | object;

const utf8 = new TextDecoder('utf-8');

/** One version of a value. Siblings are concurrent versions none of which has seen the others. */
export interface Sibling {
  /** The stored bytes. */
  readonly value: Uint8Array;
  /** The content type the value was stored with. */
  readonly contentType: string;
  /** When the coordinator accepted the write (node clock). */
  readonly lastModified: Date;
  /** The value decoded as UTF-8. */
  text(): string;
  /** The value parsed as JSON (throws a SyntaxError if it is not JSON). */
  json<T = unknown>(): T;
}

class StoredSibling implements Sibling {
  constructor(
    readonly value: Uint8Array,
    readonly contentType: string,
    readonly lastModified: Date,
  ) {}

  text(): string {
    return utf8.decode(this.value);
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

/** Makes a {@link Sibling} (exported for tests and custom resolvers). */
export function makeSibling(value: Uint8Array, contentType: string, lastModified: Date): Sibling {
  return new StoredSibling(value, contentType, lastModified);
}

/** The result of `get()`. */
export interface GetResult {
  /** Whether the key has a live value (false when absent or deleted). */
  readonly found: boolean;
  /** The live siblings: one normally, several after concurrent writes, none when not found. */
  readonly siblings: readonly Sibling[];
  /**
   * The causal context of what was read: pass it to the next `put()`/`delete()`
   * of this key so the write replaces what was read instead of adding a sibling.
   * Also set for a deleted key (the tombstone's context); undefined for a key never written.
   */
  readonly context: string | undefined;
  /** The single sibling's value as UTF-8; throws {@link SiblingsError} unless there is exactly one. */
  text(): string;
  /** The single sibling's value parsed as JSON; throws {@link SiblingsError} unless there is exactly one. */
  json<T = unknown>(): T;
}

class ReadResult implements GetResult {
  readonly #key: string;

  constructor(
    key: string,
    readonly found: boolean,
    readonly siblings: readonly Sibling[],
    readonly context: string | undefined,
  ) {
    this.#key = key;
  }

  private only(): Sibling {
    if (this.siblings.length !== 1) throw new SiblingsError(this.#key, this.siblings.length);
    return this.siblings[0]!;
  }

  text(): string {
    return this.only().text();
  }

  json<T = unknown>(): T {
    return this.only().json<T>();
  }
}

/** A read's result (found when there is at least one sibling). */
export function makeGetResult(key: string, siblings: readonly Sibling[], context: string | undefined): GetResult {
  return new ReadResult(key, siblings.length > 0, Object.freeze([...siblings]), context === '' ? undefined : context);
}

/** Bytes and content type of a value to store; throws TypeError for a value that cannot be encoded. */
export function encodeValue(value: PutValue, contentType: string | undefined): { body: Buffer; contentType: string } {
  if (value instanceof Uint8Array) {
    return { body: Buffer.from(value.buffer, value.byteOffset, value.byteLength), contentType: contentType ?? BYTES_CONTENT_TYPE };
  }
  if (value instanceof ArrayBuffer) return { body: Buffer.from(value), contentType: contentType ?? BYTES_CONTENT_TYPE };
  if (ArrayBuffer.isView(value)) {
    return { body: Buffer.from(value.buffer, value.byteOffset, value.byteLength), contentType: contentType ?? BYTES_CONTENT_TYPE };
  }
  if (typeof value === 'string') return { body: Buffer.from(value, 'utf8'), contentType: contentType ?? TEXT_CONTENT_TYPE };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`a ${typeof value} value cannot be stored: use bytes, a string or a JSON value`);
  return { body: Buffer.from(json, 'utf8'), contentType: contentType ?? JSON_CONTENT_TYPE };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Parses the sibling envelope `{"context","siblings":[{"value":<base64>,"contentType","lastModified"}]}`.
 * Throws an Error describing the defect when the body is not one.
 */
export function parseEnvelope(body: Uint8Array): { context: string | undefined; siblings: Sibling[] } {
  const parsed: unknown = JSON.parse(utf8.decode(body));
  if (!isRecord(parsed)) throw new Error('envelope is not a JSON object');
  const { context, siblings } = parsed;
  if (context !== undefined && context !== null && typeof context !== 'string') throw new Error('envelope context is not a string');
  if (!Array.isArray(siblings)) throw new Error('envelope siblings is not an array');
  const out = siblings.map((s: unknown, i): Sibling => {
    if (!isRecord(s) || typeof s.value !== 'string' || !BASE64.test(s.value)) throw new Error(`envelope sibling ${i} has no base64 value`);
    const contentType = typeof s.contentType === 'string' ? s.contentType : BYTES_CONTENT_TYPE;
    const ms = typeof s.lastModified === 'string' ? Date.parse(s.lastModified) : NaN;
    // Copied out of Buffer's shared pool, so a value never pins other memory.
    const bytes = new Uint8Array(Buffer.from(s.value, 'base64'));
    return makeSibling(bytes, contentType, new Date(Number.isNaN(ms) ? 0 : ms));
  });
  return { context: typeof context === 'string' && context !== '' ? context : undefined, siblings: out };
}
