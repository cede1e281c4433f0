import xxhash from 'xxhash-wasm';
import type { Hasher } from '../ports/hasher.js';

let shared: Promise<Hasher> | undefined;

/** xxhash64 (seed 0) of the UTF-8 key. Pure, so the simulator uses it too. */
export function createHasher(): Promise<Hasher> {
  shared ??= xxhash().then((api) => ({ hash64: (key: string) => api.h64(key) }));
  return shared;
}
