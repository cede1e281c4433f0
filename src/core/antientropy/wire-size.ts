/**
 * Approximate msgpack size of a message, for byte accounting and the throttle
 * (the core never sees the encoded bytes; the transport does). Exact for the
 * shapes anti-entropy sends (strings, bytes, small arrays and maps, integers),
 * an upper bound for the rest.
 */
export function wireBytes(value: unknown): number {
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'number') return numberBytes(value);
  if (typeof value === 'string') return strBytes(Buffer.byteLength(value));
  if (value instanceof Uint8Array) return value.length + (value.length < 0x100 ? 2 : value.length < 0x10000 ? 3 : 5);
  if (Array.isArray(value)) {
    let n = headerBytes(value.length);
    for (const v of value) n += wireBytes(v);
    return n;
  }
  if (typeof value === 'object') {
    let n = 0;
    let entries = 0;
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      n += strBytes(Buffer.byteLength(k)) + wireBytes(v);
      entries++;
    }
    return n + headerBytes(entries);
  }
  return 9;
}

function numberBytes(n: number): number {
  if (!Number.isInteger(n)) return 9;
  const a = Math.abs(n);
  if (n >= -32 && n < 128) return 1;
  if (a < 0x100) return 2;
  if (a < 0x10000) return 3;
  if (a < 0x100000000) return 5;
  return 9;
}

function strBytes(length: number): number {
  return length + (length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5);
}

function headerBytes(length: number): number {
  return length < 16 ? 1 : length < 0x10000 ? 3 : 5;
}
