#!/usr/bin/env node
/**
 * Microbenchmark of the Merkle-tree upkeep every replicated write pays
 * (TreeStore.record: key → segment, object → contribution, XOR into the tree,
 * key index), in process, on the compiled code.
 *
 *   nice -n 19 node scripts/tree-upkeep-probe.mjs [--dist dist] [--keys 100000] [--partitions 64] [--rounds 7]
 *
 * Objects have the shapes a 3-replica cluster writes: a vector of 3 actors
 * ("n2.k3x9a:1b", node id + data epoch + key epoch), 1 sibling (1 in 8 keys:
 * 2 concurrent ones), YCSB-style keys ("user" + up to 20 digits). Reports CPU
 * µs per upkeep (process.cpuUsage over the loop) for inserting new keys and
 * for updating existing ones (the steady state of a write benchmark), and the
 * whole TreeStore.put over a no-op inner store. Median of --rounds.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const dist = resolve(arg('dist', fileURLToPath(new URL('../dist', import.meta.url))));
const KEYS = Number(arg('keys', '100000'));
const PARTITIONS = Number(arg('partitions', '64'));
const ROUNDS = Number(arg('rounds', '7'));

const { TreeStore } = await import(pathToFileURL(`${dist}/core/antientropy/tree-store.js`).href);
const { createHasher } = await import(pathToFileURL(`${dist}/adapters/xxhash.js`).href);
const hasher = await createHasher();

// A deterministic generator (no Math.random: runs are comparable).
let seed = 0x9e3779b9;
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const NODE_ACTORS = ['n1.k3x9a', 'n2.p0q7z', 'n3.x81mm'];
const VALUE = new Uint8Array(100);

/** Version `v` of a key: counters advance with v, so each version has a different causal identity. */
function objectFor(k, v) {
  const epochs = NODE_ACTORS.map((a, i) => `${a}:${((k * 7 + i * 13) % 50000).toString(36)}`);
  const counters = [1 + v + (k % 3), 1 + ((v + k) % 5), 1 + (k % 7)];
  const vv = epochs.map((a, i) => [a, counters[i]]);
  const coordinator = (k + v) % 3;
  const siblings = [{ dot: { actor: epochs[coordinator], counter: counters[coordinator] }, value: VALUE, contentType: 'application/octet-stream', deleted: false, lastModifiedMs: 1_700_000_000_000 + v }];
  if (k % 8 === 0) {
    const other = (coordinator + 1) % 3;
    siblings.push({ dot: { actor: epochs[other], counter: counters[other] }, value: VALUE, contentType: 'application/octet-stream', deleted: v % 5 === 0, lastModifiedMs: 1_700_000_000_000 + v });
    siblings.sort((a, b) => (a.dot.actor < b.dot.actor ? -1 : a.dot.actor > b.dot.actor ? 1 : a.dot.counter - b.dot.counter));
  }
  return { vv, siblings };
}

const keys = Array.from({ length: KEYS }, () => `user${Math.floor(rnd() * 1e15)}${Math.floor(rnd() * 1e5)}`);
const partitionOf = keys.map((_, i) => i % PARTITIONS);
const VERSIONS = 4;
const versions = Array.from({ length: VERSIONS }, (_, v) => keys.map((_, k) => objectFor(k, v)));

const RESOLVED = Promise.resolve();
const nullStore = {
  get: () => undefined,
  getPacked: () => undefined,
  put: () => RESOLVED,
  remove: () => RESOLVED,
  scan: () => [],
  stats: () => ({ keys: 0, bytes: 0 }),
  getMeta: () => undefined,
  putMeta: () => RESOLVED,
  close: () => RESOLVED,
};

function cpuMicros(fn) {
  const t = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t);
  return d.user + d.system;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const insert = [];
const update = [];
const put = [];
let check = 0n;
for (let r = 0; r < ROUNDS; r++) {
  const store = new TreeStore(nullStore, hasher, PARTITIONS);
  const record = (p, k, o) => store.record(p, k, o);
  insert.push(cpuMicros(() => {
    for (let i = 0; i < KEYS; i++) record(partitionOf[i], keys[i], versions[0][i]);
  }) / KEYS);
  update.push(cpuMicros(() => {
    for (let v = 1; v < VERSIONS; v++) for (let i = 0; i < KEYS; i++) record(partitionOf[i], keys[i], versions[v][i]);
  }) / (KEYS * (VERSIONS - 1)));
  put.push(cpuMicros(() => {
    for (let v = 0; v < VERSIONS; v++) for (let i = 0; i < KEYS; i++) void store.put(partitionOf[i], keys[i], versions[v][i]);
  }) / (KEYS * VERSIONS));
  for (let p = 0; p < PARTITIONS; p++) check ^= store.root(p);
}
await new Promise((r) => setImmediate(r)); // let the puts' failure followers settle

const fmt = (x) => x.toFixed(3);
console.log(`dist=${dist} keys=${KEYS} partitions=${PARTITIONS} rounds=${ROUNDS} node=${process.version}`);
console.log(`record, new key:      ${fmt(median(insert))} µs CPU  (rounds: ${insert.map(fmt).join(' ')})`);
console.log(`record, update:       ${fmt(median(update))} µs CPU  (rounds: ${update.map(fmt).join(' ')})`);
console.log(`TreeStore.put (no-op inner store): ${fmt(median(put))} µs CPU  (rounds: ${put.map(fmt).join(' ')})`);
console.log(`(xor of roots: ${check.toString(16)})`);
