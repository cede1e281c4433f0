/**
 * Shopping cart: several clients add and remove items in ONE cart at the same
 * time, with no locks and no coordination between them, and nothing is lost.
 *
 * Run it against a local cluster:
 *
 *     npm start                         # in another terminal: 3 nodes on 127.0.0.1:7001-7003
 *     npx tsc -p examples               # compiles to examples/dist/
 *     node examples/dist/examples/shopping-cart.js
 *
 * Options (environment): DYNAKV_NODES=http://127.0.0.1:7001,http://127.0.0.1:7002
 * (default http://127.0.0.1:7001), CLIENTS=4, OPS=25 (operations per client).
 *
 * How the cart is represented
 * ---------------------------
 * dynakv never picks a winner among concurrent writes: they come back as
 * siblings, and the application merges them. The merge must never drop an add
 * and never resurrect a removed item, so the cart is a small "observed-remove
 * set" (an OR-set, as in Riak's data types), stored as JSON:
 *
 *     { "adds":    { "<tag>": "<item>", ... },   // one entry per add operation
 *       "removed": [ "<tag>", ... ] }            // tombstones: tags of removed adds
 *
 * - Adding an item records a new, globally unique tag (client id + counter),
 *   so two concurrent adds of the same item are two entries, not one.
 * - Removing an item moves every tag of that item the client *can see* into
 *   `removed`. A concurrent add of the same item carries a tag the remover has
 *   not seen, so it survives the merge ("add wins"), exactly as it should.
 * - The merge of siblings is a plain union of `adds` and of `removed`; it is
 *   commutative, associative and idempotent, so any order of merges, and any
 *   retry of `update()` (which may re-resolve after a partly applied write),
 *   gives the same cart.
 * - The cart's contents: the items of the tags in `adds` that are not in
 *   `removed`, counted (two live tags of "book" = 2 books).
 *
 * Tombstones only grow. A real application would compact them, e.g. at
 * checkout (write an empty cart with the read's context) or by dropping a
 * tombstone together with its add once both are older than any plausible
 * concurrent writer.
 */
import { Client, DynakvError, type Sibling } from '../src/client/index.js';

/** The stored cart (see the header). */
interface CartValue {
  adds: Record<string, string>;
  removed: string[];
}

const EMPTY: CartValue = { adds: {}, removed: [] };

/** Union of siblings: every add and every tombstone any of them has. */
function mergeCarts(siblings: readonly Sibling[]): CartValue {
  const adds: Record<string, string> = {};
  const removed = new Set<string>();
  for (const s of siblings) {
    const cart = s.json<CartValue>();
    Object.assign(adds, cart.adds);
    for (const tag of cart.removed) removed.add(tag);
  }
  return { adds, removed: [...removed].sort() };
}

/** Item → quantity: live tags per item. */
function contents(cart: CartValue): Map<string, number> {
  const removed = new Set(cart.removed);
  const out = new Map<string, number>();
  for (const [tag, item] of Object.entries(cart.adds)) {
    if (!removed.has(tag)) out.set(item, (out.get(item) ?? 0) + 1);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Adds one `item` under a fresh tag. */
async function addItem(db: Client, key: string, tag: string, item: string): Promise<void> {
  await db.update(key, (siblings) => {
    const cart = siblings.length === 0 ? EMPTY : mergeCarts(siblings);
    // Idempotent on retry: the tag is fixed before the first attempt.
    return { adds: { ...cart.adds, [tag]: item }, removed: cart.removed };
  });
}

/** Removes every copy of `item` this client can see; returns how many tags it tombstoned. */
async function removeItem(db: Client, key: string, item: string): Promise<number> {
  let removedNow = 0;
  await db.update(key, (siblings) => {
    const cart = siblings.length === 0 ? EMPTY : mergeCarts(siblings);
    const removed = new Set(cart.removed);
    const tags = Object.entries(cart.adds)
      .filter(([tag, it]) => it === item && !removed.has(tag))
      .map(([tag]) => tag);
    removedNow = tags.length;
    if (tags.length === 0) return undefined; // nothing to write
    return { adds: cart.adds, removed: [...removed, ...tags].sort() };
  });
  return removedNow;
}

const CATALOGUE = ['book', 'pen', 'mug', 'lamp', 'sock', 'tea', 'map', 'dice'];

/**
 * One shopper: adds items (sometimes one it already has: quantity 2), and now
 * and then removes every copy of one of its items. Returns what it expects to
 * be left of its own items: item → quantity.
 */
async function shopper(db: Client, key: string, id: string, ops: number): Promise<Map<string, number>> {
  const mine = new Map<string, number>();
  for (let i = 0; i < ops; i++) {
    if (i % 4 === 3 && mine.size > 0) {
      const items = [...mine.keys()];
      const item = items[Math.floor(Math.random() * items.length)]!;
      await removeItem(db, key, item);
      mine.delete(item);
    } else {
      // Items are per-shopper ("book#s2") so the expected outcome is easy to state.
      const item = `${CATALOGUE[Math.floor(Math.random() * CATALOGUE.length)]!}#${id}`;
      await addItem(db, key, `${id}:${i}`, item);
      mine.set(item, (mine.get(item) ?? 0) + 1);
    }
  }
  return mine;
}

async function main(): Promise<void> {
  const nodes = (process.env.DYNAKV_NODES ?? 'http://127.0.0.1:7001').split(',').map((s) => s.trim()).filter(Boolean);
  const clientCount = Number(process.env.CLIENTS ?? 4);
  const ops = Number(process.env.OPS ?? 25);
  const key = `cart:example:${Date.now()}`;

  // One Client per shopper, as separate processes would have; each starts from a different node.
  const clients = Array.from({ length: clientCount }, (_, i) => new Client({ nodes: [...nodes.slice(i % nodes.length), ...nodes] }));
  try {
    const started = Date.now();
    const results = await Promise.all(clients.map((db, i) => shopper(db, key, `s${i + 1}`, ops)));

    // What should be left: what each shopper added and did not remove.
    const expected = new Map<string, number>();
    for (const mine of results) for (const [item, n] of mine) expected.set(item, n);

    const read = await clients[0]!.get(key, { r: 'all' });
    const cart = mergeCarts(read.siblings);
    const got = contents(cart);
    console.log(`cart ${key}: ${clientCount} clients x ${ops} ops in ${Date.now() - started} ms`);
    console.log(`siblings at the end: ${read.siblings.length}; tags: ${Object.keys(cart.adds).length}, tombstones: ${cart.removed.length}`);
    console.log('contents:', Object.fromEntries(got));

    const same = got.size === expected.size && [...expected].every(([item, n]) => got.get(item) === n);
    if (!same) {
      console.error('MISMATCH: expected', Object.fromEntries([...expected].sort(([a], [b]) => a.localeCompare(b))));
      process.exitCode = 1;
    } else {
      console.log(`OK: every add and every remove of every client is reflected (${got.size} items)`);
    }

    // Checkout: resolve the siblings and clear the cart in one write with the read's context.
    await clients[0]!.put(key, EMPTY, { context: read.context });
    const stats = clients.map((c) => c.stats());
    console.log(
      'requests:',
      stats.reduce((s, x) => s + x.requests, 0),
      'to a non-primary (forwarding hop):',
      stats.reduce((s, x) => s + x.toNonPrimary, 0),
    );
  } catch (err) {
    if (err instanceof DynakvError) {
      console.error(`dynakv error ${err.code} (${err.status}): ${err.message}`, err.details);
      if (err.code === 'unavailable') console.error(`is a cluster running at ${nodes.join(', ')}? (npm start)`);
      process.exitCode = 1;
    } else {
      throw err;
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

await main();
