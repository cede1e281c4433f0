/**
 * The version codec (src/core/version/codec.ts): the client's opaque causal
 * context (base64url(msgpack(vv))) and the msgpack/wire form of stored objects.
 * Everything decoded there comes from outside the process: it must be either a
 * valid object or a clean, typed rejection — never a crash.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DynakvError } from '../../src/core/errors.js';
import { LIMITS } from '../../src/core/limits.js';
import {
  decodeContext,
  encodeContext,
  keyTag,
  fromWire,
  packObject,
  toWire,
  unpackObject,
  vectorFromWire,
  type WireObject,
} from '../../src/core/version/codec.js';
import { EMPTY_OBJECT, equalObjects } from '../../src/core/version/dvv.js';
import type { VersionedObject } from '../../src/core/version/types.js';
import { isCanonicalVV } from '../../src/core/version/vector.js';
import { invariantViolation, plain, realisticObjectsArb, validObjectArb, vvArb } from './support/dvv-arbitraries.js';

const RUNS = { numRuns: 300 } as const;

/** A packer like the codec's, to build hostile inputs byte for byte. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
/** The key the contexts of these tests were read from. */
const KEY = 'cart:42';
/** A context as this store frames one ([key tag, vector]) around any value, for malformed vectors. */
const ctxOf = (value: unknown): string => Buffer.from(packr.pack([keyTag(KEY), value])).toString('base64url');
const ctxOfBytes = (bytes: ArrayLike<number>): string => Buffer.from(Uint8Array.from(bytes)).toString('base64url');

function expectInvalidContext(text: string): void {
  let thrown: unknown;
  try {
    decodeContext(text, KEY);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `accepted ${JSON.stringify(text.slice(0, 80))}`).toBeInstanceOf(DynakvError);
  expect((thrown as DynakvError).code).toBe('invalid_context');
}

/** fromWire's contract: a plain Error (not TypeError/RangeError/AssertionError) for every defect. */
function expectPlainRejection(input: unknown): Error {
  let thrown: unknown;
  try {
    fromWire(input);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'fromWire accepted a malformed object').toBeDefined();
  expect(thrown).toBeInstanceOf(Error);
  expect(Object.getPrototypeOf(thrown)).toBe(Error.prototype);
  return thrown as Error;
}

/** fromWire either returns a valid object or throws a plain Error, quickly. */
function checkFromWire(input: unknown): void {
  const t0 = performance.now();
  let out: VersionedObject | undefined;
  try {
    out = fromWire(input);
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect(Object.getPrototypeOf(e), `${String(e)}`).toBe(Error.prototype);
  }
  expect(performance.now() - t0).toBeLessThan(1000);
  if (out !== undefined) {
    expect(invariantViolation(out)).toBeNull();
    expect(isCanonicalVV(out.vv)).toBe(true);
    for (const s of out.siblings) {
      expect(typeof s.contentType).toBe('string');
      expect(Number.isSafeInteger(s.lastModifiedMs)).toBe(true);
      expect(Number.isSafeInteger(s.dot.counter) && s.dot.counter > 0).toBe(true);
    }
  }
}

const objectsArb = fc.oneof(
  validObjectArb(),
  realisticObjectsArb(1).map(([o]) => o!),
);

// ---------------------------------------------------------------------------
// The causal context
// ---------------------------------------------------------------------------

describe('encodeContext / decodeContext', () => {
  it('round-trips every canonical vector, as a base64url string', () => {
    fc.assert(
      fc.property(vvArb(24), (vv) => {
        const text = encodeContext(vv, KEY);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        const back = decodeContext(text, KEY);
        expect(back).toEqual(vv.map(([a, c]) => [a, c]));
        expect(isCanonicalVV(back)).toBe(true);
        expect(encodeContext(back, KEY)).toBe(text);
      }),
      RUNS,
    );
  });

  it('round-trips the vectors of realistic replica states', () => {
    fc.assert(
      fc.property(realisticObjectsArb(1), ([o]) => {
        expect(decodeContext(encodeContext(o!.vv, KEY), KEY)).toEqual(o!.vv.map(([a, c]) => [a, c]));
      }),
      RUNS,
    );
  });

  it('round-trips large vectors with realistic actor ids and extreme counters', () => {
    const vv = Array.from({ length: LIMITS.vectorEntriesMax }, (_, i) => [`n${String(i).padStart(3, '0')}.k3x9`, Number.MAX_SAFE_INTEGER - i] as const);
    expect(decodeContext(encodeContext(vv, KEY), KEY)).toEqual(vv.map(([a, c]) => [a, c]));
    const one = [['a'.repeat(LIMITS.actorBytesMax), 1]] as const;
    expect(decodeContext(encodeContext(one, KEY), KEY)).toEqual([['a'.repeat(LIMITS.actorBytesMax), 1]]);
  });

  it('empty string and undefined mean "no context"; the empty vector encodes as ""', () => {
    expect(decodeContext('', KEY)).toEqual([]);
    expect(decodeContext(undefined, KEY)).toEqual([]);
    expect(encodeContext([], KEY)).toBe('');
  });

  it('rejects text that is not base64url', () => {
    for (const text of ['garbage!!', 'abc=', 'ab+c', 'ab/c', 'a b', ' ', '\n', 'kA==', 'é', '\u0000', 'kA\u200b']) expectInvalidContext(text);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).filter((s) => !/^[A-Za-z0-9_-]*$/.test(s)), (s) => expectInvalidContext(s)),
      RUNS,
    );
  });

  it('rejects base64url that is not msgpack, or is truncated, or has trailing bytes', () => {
    const cases: number[][] = [
      [0xc1], // never-used msgpack byte
      [0x92], // array of 2, then nothing
      [0x91, 0x92, 0xa1], // truncated string
      [0x91, 0x92, 0xa1, 0x61], // missing counter
      [0x90, 0x01], // [] then a stray byte
      [0x91, 0x92, 0xa1, 0x61, 0x01, 0xff], // valid vector then a stray byte
      [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 claiming 4G entries
      [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], // str32 claiming 4 GB
      [0xc7, 0x05, 0x73, 0x90], // ext claiming more bytes than given
    ];
    for (const bytes of cases) expectInvalidContext(ctxOfBytes(bytes));
    for (const text of ['A', 'AAAA', '____', 'garbage', 'Zm9vYmFy', 'x'.repeat(64)]) expectInvalidContext(text);
  });

  it('random base64url either decodes to a canonical vector or is invalid_context, never anything else', () => {
    const b64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 64 });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 48 }).map((b) => Buffer.from(b).toString('base64url')), b64url), (text) => {
        let out: unknown;
        try {
          out = decodeContext(text, KEY);
        } catch (e) {
          expect(e).toBeInstanceOf(DynakvError);
          expect((e as DynakvError).code).toBe('invalid_context');
          return;
        }
        expect(Array.isArray(out) && isCanonicalVV(out as never)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects msgpack of non-canonical vectors', () => {
    const bad: unknown[] = [
      [['b', 1], ['a', 1]], // unsorted
      [['a', 1], ['a', 2]], // duplicate actor
      [['a', 1], ['a', 1]],
      [['a', 0]], // zero counter
      [['a', -1]], // negative
      [['a', 1.5]], // float
      [['a', Number.NaN]],
      [['a', Number.POSITIVE_INFINITY]],
      [['a', 2 ** 53]], // beyond safe integers
      [['a', 2n ** 63n - 1n]], // int64
      [['a', 5n]], // an int64 encoding of a small number is not one we issue
      [['a', '1']], // string counter
      [['a', true]],
      [['a', null]],
      [[1, 1]], // non-string actors
      [[null, 1]],
      [[Buffer.from('a'), 1]],
      [[['a'], 1]],
      [['', 1]], // empty actor
      [['a']], // wrong arity
      [['a', 1, 2]],
      [[]],
      ['a', 1], // flat, not pairs
      [{ a: 1 }],
      { a: 1 }, // a map, not a list
      'a',
      1,
      null,
      true,
      Buffer.from([1, 2, 3]),
      [['x'.repeat(LIMITS.actorBytesMax + 1), 1]], // actor too long
      Array.from({ length: LIMITS.vectorEntriesMax + 1 }, (_, i) => [`a${String(i).padStart(4, '0')}`, 1]), // too many entries
    ];
    for (const value of bad) expectInvalidContext(ctxOf(value));
  });

  it('rejects over-long text, even when it would decode', () => {
    expectInvalidContext('A'.repeat(LIMITS.contextCharsMax + 1));
    // a canonical vector whose encoding is over the limit
    const vv = Array.from({ length: 200 }, (_, i) => [`${String(i).padStart(3, '0')}${'x'.repeat(150)}`, 1] as const);
    const text = encodeContext(vv, KEY);
    expect(text.length).toBeGreaterThan(LIMITS.contextCharsMax);
    expectInvalidContext(text);
    expectInvalidContext(`${ctxOf([['a', 1]])}${'A'.repeat(LIMITS.contextCharsMax)}`);
  });

  it('a context is bound to its key: one read from another key, or an unframed vector, is invalid_context', () => {
    const vv = [['n1.e1', 5]] as const;
    const text = encodeContext(vv, 'cart:1');
    expect(decodeContext(text, 'cart:1')).toEqual([['n1.e1', 5]]);
    expect(() => decodeContext(text, 'cart:2')).toThrow(/another key/);
    try {
      decodeContext(text, 'cart:2');
    } catch (e) {
      expect((e as DynakvError).code).toBe('invalid_context');
    }
    expectInvalidContext(Buffer.from(packr.pack([['n1.e1', 5]])).toString('base64url')); // a bare vector (no key tag)
    expectInvalidContext(Buffer.from(packr.pack(['x', [['n1.e1', 5]]])).toString('base64url')); // a tag that is not a number
    expect(keyTag('cart:1')).not.toBe(keyTag('cart:2'));
    expect(keyTag('')).toBe(0x811c9dc5);
  });

  it('the rejection does not echo the client’s bytes', () => {
    try {
      decodeContext('<script>alert(1)</script>', KEY);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('script');
    }
  });
});

// ---------------------------------------------------------------------------
// Stored / wire objects
// ---------------------------------------------------------------------------

describe('packObject / unpackObject and toWire / fromWire', () => {
  it('round-trip every valid object exactly (vv, dots, bytes, content type, tombstone, time)', () => {
    fc.assert(
      fc.property(objectsArb, (o) => {
        const back = unpackObject(packObject(o));
        expect(plain(back)).toEqual(plain(o));
        expect(equalObjects(back, o)).toBe(true);
        expect(invariantViolation(back)).toBeNull();
        for (const s of back.siblings) expect(s.value).toBeInstanceOf(Uint8Array);
        const viaWire = fromWire(toWire(o));
        expect(plain(viaWire)).toEqual(plain(o));
      }),
      RUNS,
    );
  });

  it('round-trips EMPTY_OBJECT and empty values', () => {
    expect(plain(unpackObject(packObject(EMPTY_OBJECT)))).toEqual({ vv: [], siblings: [] });
    const o: VersionedObject = {
      vv: [['n1.e1', 1]],
      siblings: [{ dot: { actor: 'n1.e1', counter: 1 }, value: new Uint8Array(0), contentType: '', deleted: true, lastModifiedMs: 0 }],
    };
    expect(plain(unpackObject(packObject(o)))).toEqual(plain(o));
  });

  it('toWire has the documented shape', () => {
    fc.assert(
      fc.property(objectsArb, (o) => {
        const w: WireObject = toWire(o);
        expect(w).toHaveLength(2);
        expect(w[0]).toEqual(o.vv.map(([a, c]) => [a, c]));
        for (const s of w[1]) {
          expect(s).toHaveLength(6);
          expect([0, 1]).toContain(s[4]);
        }
      }),
      RUNS,
    );
  });

  it('with copyValues, unpacked values own their bytes: reusing the input buffer cannot change a decoded object', () => {
    fc.assert(
      fc.property(objectsArb, (o) => {
        const bytes = Buffer.from(packObject(o)); // e.g. a pooled network frame
        const back = unpackObject(bytes, { copyValues: true });
        const snapshot = plain(back);
        bytes.fill(0xee);
        expect(plain(back)).toEqual(snapshot);
        for (const s of back.siblings) if (s.value.byteLength > 0) expect(s.value.buffer).not.toBe(bytes.buffer);
      }),
      RUNS,
    );
  });

  it('by default, unpacked values are views into the packed bytes (no copy)', () => {
    fc.assert(
      fc.property(objectsArb, (o) => {
        const bytes = Buffer.from(packObject(o));
        const back = unpackObject(bytes);
        expect(plain(back)).toEqual(plain(unpackObject(bytes, { copyValues: true })));
        for (const s of back.siblings) if (s.value.byteLength > 0) expect(s.value.buffer).toBe(bytes.buffer);
      }),
      RUNS,
    );
  });

  it('unpackObject on random bytes returns a valid object or throws an Error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let out: VersionedObject | undefined;
        try {
          out = unpackObject(bytes);
        } catch (e) {
          // msgpackr itself may throw RangeError/TypeError on malformed input: callers must catch Error
          expect(e).toBeInstanceOf(Error);
          return;
        }
        expect(invariantViolation(out)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fromWire rejects malformed objects with a plain Error', () => {
  const v = new Uint8Array([1]);
  const sib = (actor: unknown, counter: unknown, value: unknown = v, ct: unknown = 't', del: unknown = 0, t: unknown = 1): unknown[] => [actor, counter, value, ct, del, t];
  const vv: Array<[string, number]> = [
    ['a', 3],
    ['b', 2],
  ];

  const cases: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 7],
    ['a string', '[[],[]]'],
    ['bytes', new Uint8Array([0x92, 0x90, 0x90])],
    ['an object', { vv: [], siblings: [] }],
    ['an array-like object', { 0: [], 1: [], length: 2 }],
    ['arity 0', []],
    ['arity 1', [vv]],
    ['arity 3', [vv, [], []]],
    ['vv not an array', [{ a: 3 }, []]],
    ['vv entry not a pair', [[['a']], []]],
    ['vv entry arity 3', [[['a', 1, 1]], []]],
    ['vv entry null', [[null], []]],
    ['vv unsorted', [[['b', 1], ['a', 1]], []]],
    ['vv duplicate actor', [[['a', 1], ['a', 2]], []]],
    ['vv zero counter', [[['a', 0]], []]],
    ['vv float counter', [[['a', 1.5]], []]],
    ['vv bigint counter', [[['a', 1n]], []]],
    ['vv non-string actor', [[[1, 1]], []]],
    ['vv actor too long', [[['a'.repeat(LIMITS.actorBytesMax + 1), 1]], []]],
    ['vv too many entries', [Array.from({ length: LIMITS.vectorEntriesMax + 1 }, (_, i) => [`a${String(i).padStart(4, '0')}`, 1]), []]],
    ['vv huge sparse array', [new Array(2 ** 32 - 1), []]],
    ['siblings not an array', [vv, { 0: sib('a', 1) }]],
    ['siblings null', [vv, null]],
    // otherwise valid (sorted, covered): only the bound rejects it
    ['too many siblings', [[['a', LIMITS.siblingsStoredMax + 1]], Array.from({ length: LIMITS.siblingsStoredMax + 1 }, (_, i) => sib('a', i + 1))]],
    ['siblings huge sparse array', [vv, new Array(2 ** 32 - 1)]],
    ['sibling not an array', [vv, [{ actor: 'a', counter: 1 }]]],
    ['sibling hole', [vv, [, sib('a', 1)]]], // eslint-disable-line no-sparse-arrays
    ['sibling arity 5', [vv, [sib('a', 1).slice(0, 5)]]],
    ['sibling arity 7', [vv, [[...sib('a', 1), 0]]]],
    ['sibling actor not a string', [vv, [sib(1, 1)]]],
    ['sibling actor empty', [vv, [sib('', 1)]]],
    ['sibling actor too long', [[['a'.repeat(LIMITS.actorBytesMax + 1), 1]], [sib('a'.repeat(LIMITS.actorBytesMax + 1), 1)]]],
    ['sibling counter 0', [vv, [sib('a', 0)]]],
    ['sibling counter negative', [vv, [sib('a', -1)]]],
    ['sibling counter float', [vv, [sib('a', 1.5)]]],
    ['sibling counter string', [vv, [sib('a', '1')]]],
    ['sibling counter NaN', [vv, [sib('a', Number.NaN)]]],
    ['sibling counter bigint', [vv, [sib('a', 1n)]]],
    ['value a string', [vv, [sib('a', 1, 'bytes')]]],
    ['value a number array', [vv, [sib('a', 1, [1, 2, 3])]]],
    ['value null', [vv, [sib('a', 1, null)]]],
    ['value an ArrayBuffer', [vv, [sib('a', 1, new ArrayBuffer(2))]]],
    ['value an Int8Array', [vv, [sib('a', 1, new Int8Array(2))]]],
    ['value a DataView', [vv, [sib('a', 1, new DataView(new ArrayBuffer(2)))]]],
    ['content type a number', [vv, [sib('a', 1, v, 5)]]],
    ['content type null', [vv, [sib('a', 1, v, null)]]],
    ['content type too long', [vv, [sib('a', 1, v, 'x'.repeat(LIMITS.contentTypeBytesMax + 1))]]],
    ['deleted true (not 0|1)', [vv, [sib('a', 1, v, 't', true)]]],
    ['deleted false', [vv, [sib('a', 1, v, 't', false)]]],
    ['deleted 2', [vv, [sib('a', 1, v, 't', 2)]]],
    ['deleted "1"', [vv, [sib('a', 1, v, 't', '1')]]],
    ['deleted null', [vv, [sib('a', 1, v, 't', null)]]],
    ['time a float', [vv, [sib('a', 1, v, 't', 0, 1.5)]]],
    ['time NaN', [vv, [sib('a', 1, v, 't', 0, Number.NaN)]]],
    ['time a string', [vv, [sib('a', 1, v, 't', 0, '1')]]],
    ['time a Date', [vv, [sib('a', 1, v, 't', 0, new Date(0))]]],
    ['siblings unsorted by counter', [vv, [sib('a', 2), sib('a', 1)]]],
    ['siblings unsorted by actor', [vv, [sib('b', 1), sib('a', 1)]]],
    ['siblings duplicate dot', [vv, [sib('a', 1), sib('a', 1)]]],
    ['sibling actor outside vv', [vv, [sib('c', 1)]]],
    ['sibling counter beyond vv', [vv, [sib('a', 4)]]],
    ['sibling with empty vv', [[], [sib('a', 1)]]],
  ];

  it.each(cases)('%s', (_name, input) => {
    expectPlainRejection(input);
  });

  it('accepts the boundary cases', () => {
    expect(fromWire([[], []])).toEqual({ vv: [], siblings: [] });
    const ok = fromWire([vv, [sib('a', 1), sib('a', 3, Buffer.from('x'), '', 1, -5), sib('b', 2)]]);
    expect(ok.siblings.map((s) => [s.dot.actor, s.dot.counter, s.deleted])).toEqual([
      ['a', 1, false],
      ['a', 3, true],
      ['b', 2, false],
    ]);
    const full = new Array(LIMITS.siblingsStoredMax).fill(0).map((_, i) => sib('a', i + 1));
    expect(fromWire([[['a', LIMITS.siblingsStoredMax]], full]).siblings).toHaveLength(LIMITS.siblingsStoredMax);
  });

  it('fuzz: fc.anything() gives a valid object or a plain Error, never a TypeError, never a hang', () => {
    const anything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    });
    fc.assert(fc.property(anything, checkFromWire), { numRuns: 2000 });
    // shaped like an object, with anything inside
    fc.assert(
      fc.property(fc.tuple(fc.oneof(fc.array(fc.tuple(anything, anything)), anything), fc.array(fc.oneof(fc.array(anything, { minLength: 6, maxLength: 6 }), anything))), checkFromWire),
      { numRuns: 2000 },
    );
  });

  it('fuzz: a valid wire object with one part replaced, removed, duplicated or reordered', () => {
    const replacement = fc.oneof(
      fc.anything({ withBigInt: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withNullPrototype: true }),
      fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.NaN, '', 'a', true, null, undefined, [], [[]], new Uint8Array(0)),
    );
    const edit = fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), op: fc.constantFrom('replace', 'remove', 'duplicate', 'swap'), with: replacement });
    fc.assert(
      fc.property(objectsArb, edit, (o, { path, op, with: w }) => {
        const wire = structuredClone(toWire(o)) as unknown as unknown[];
        // walk down the path through arrays as far as it goes
        let parent: unknown[] = wire;
        let at = path[0]! % parent.length;
        for (const p of path.slice(1)) {
          const child = parent[at];
          if (!Array.isArray(child) || child.length === 0) break;
          parent = child;
          at = p % child.length;
        }
        if (op === 'replace') parent[at] = w;
        else if (op === 'remove') parent.splice(at, 1);
        else if (op === 'duplicate') parent.splice(at, 0, structuredClone(parent[at]));
        else if (parent.length > 1) [parent[0], parent[at]] = [parent[at], parent[0]];
        checkFromWire(wire);
      }),
      { numRuns: 2000 },
    );
  });

  it('vectorFromWire agrees with isCanonicalVV on arrays of pairs', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), fc.oneof(fc.integer(), fc.double(), fc.string()))), (entries) => {
        let ok: boolean;
        try {
          vectorFromWire(entries);
          ok = true;
        } catch (e) {
          expect(Object.getPrototypeOf(e)).toBe(Error.prototype);
          ok = false;
        }
        const short = entries.every(([a]) => typeof a !== 'string' || a.length <= LIMITS.actorBytesMax);
        expect(ok).toBe(short && entries.length <= LIMITS.vectorEntriesMax && isCanonicalVV(entries as never));
      }),
      RUNS,
    );
  });
});
