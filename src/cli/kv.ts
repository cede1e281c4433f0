/** `dynakv get|put|del|status`: thin wrappers over the public HTTP API (DESIGN §7). */
import { LIMITS } from '../core/limits.js';
import { parseIntIn, parseQuorum } from './args.js';
import { procState } from './cluster/process.js';
import { readState } from './cluster/state.js';
import { CliError } from './errors.js';
import { baseUrl, describeError, http, type HttpReply } from './http.js';

export const DEFAULT_NODE_URL = 'http://127.0.0.1:7001';
const CONTEXT_HEADER = 'x-dynakv-context';

export interface CommonOptions {
  node?: string;
  timeout?: string;
}

export interface GetOptions extends CommonOptions {
  r?: string;
  pr?: string;
}

export interface PutOptions extends CommonOptions {
  contentType?: string;
  context?: string;
  w?: string;
  pw?: string;
}

export interface DelOptions extends CommonOptions {
  context?: string;
  w?: string;
  pw?: string;
  r?: string;
}

/** --node, else the first running node of ./.dynakv/cluster.json, else its first node, else 127.0.0.1:7001. */
export async function resolveNodeUrl(flag: string | undefined): Promise<string> {
  if (flag !== undefined) return baseUrl(flag);
  const nodes = (await readState().catch(() => undefined))?.nodes.filter((n) => !n.left) ?? [];
  const pick = nodes.find((n) => procState(n) === 'running') ?? nodes[0];
  return pick ? `http://${pick.api}` : DEFAULT_NODE_URL;
}

/** Query string from validated quorum flags; `timeout` is passed on to the coordinator too. */
function query(opts: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const name of ['r', 'pr', 'w', 'pw'] as const) {
    if (opts[name] !== undefined) params.set(name, parseQuorum(name, opts[name]));
  }
  if (opts.timeout !== undefined) {
    params.set('timeout', String(parseIntIn('timeout', opts.timeout, 1, LIMITS.requestTimeoutMsMax)));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Client-side timeout: the server's request timeout plus slack for it to answer 503. */
function clientTimeout(opts: CommonOptions): number {
  return (opts.timeout ? Number(opts.timeout) : LIMITS.requestTimeoutMsDefault) + 5_000;
}

async function kvRequest(key: string, opts: CommonOptions & Record<string, string | undefined>, init: Parameters<typeof http>[1]) {
  const url = `${await resolveNodeUrl(opts.node)}/v1/kv/${encodeURIComponent(key)}${query(opts)}`;
  try {
    return await http(url, { ...init, timeoutMs: clientTimeout(opts) });
  } catch (err) {
    throw new CliError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
  }
}

export async function get(key: string, opts: GetOptions): Promise<void> {
  const res = await kvRequest(key, { ...opts }, { method: 'GET' });
  if (res.status === 200) {
    writeValue(res.body);
  } else if (res.status === 300) {
    printSiblings(res.body);
  } else {
    printContext(res);
    throw new CliError(describeError(res));
  }
  printContext(res);
}

export async function put(key: string, value: string, opts: PutOptions): Promise<void> {
  const fromStdin = value === '-';
  const body = fromStdin ? await readStdin() : Buffer.from(value, 'utf8');
  // A value typed on the command line is text; piped bytes are whatever they are.
  const contentType = opts.contentType ?? (fromStdin ? 'application/octet-stream' : 'text/plain; charset=utf-8');
  const headers: Record<string, string> = { 'content-type': contentType };
  if (opts.context) headers[CONTEXT_HEADER] = opts.context;
  const res = await kvRequest(key, { ...opts }, { method: 'PUT', headers, body });
  if (res.status < 200 || res.status > 299) throw new CliError(describeError(res));
  printContext(res);
}

export async function del(key: string, opts: DelOptions): Promise<void> {
  const headers: Record<string, string> = opts.context ? { [CONTEXT_HEADER]: opts.context } : {};
  const res = await kvRequest(key, { ...opts }, { method: 'DELETE', headers });
  if (res.status < 200 || res.status > 299) throw new CliError(describeError(res));
  printContext(res);
}

export async function nodeStatus(opts: CommonOptions): Promise<void> {
  const url = `${await resolveNodeUrl(opts.node)}/v1/admin/status`;
  let res: HttpReply;
  try {
    res = await http(url, { timeoutMs: 5_000 });
  } catch (err) {
    throw new CliError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
  }
  if (res.status !== 200) throw new CliError(describeError(res));
  process.stdout.write(`${JSON.stringify(JSON.parse(res.body.toString('utf8')), null, 2)}\n`);
}

/** The context goes to stderr so stdout stays exactly the value (pipeable). */
function printContext(res: HttpReply): void {
  const ctx = res.headers[CONTEXT_HEADER];
  if (typeof ctx === 'string' && ctx !== '') process.stderr.write(`context: ${ctx}\n`);
}

function writeValue(bytes: Buffer): void {
  process.stdout.write(bytes);
  if (process.stdout.isTTY && bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) process.stdout.write('\n');
}

interface SiblingEnvelope {
  context?: string;
  siblings?: Array<{ value: string; contentType: string; lastModified: string }>;
}

function printSiblings(body: Buffer): void {
  const env = JSON.parse(body.toString('utf8')) as SiblingEnvelope;
  const siblings = env.siblings ?? [];
  siblings.forEach((s, i) => {
    const bytes = Buffer.from(s.value, 'base64');
    process.stdout.write(`--- sibling ${i + 1}/${siblings.length} (${s.contentType}, ${s.lastModified})\n`);
    process.stdout.write(`${renderBytes(bytes, s.contentType)}\n`);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text as text; anything that is not valid UTF-8 (or holds NULs) as base64. */
export function renderBytes(bytes: Uint8Array, contentType: string): string {
  try {
    const text = utf8.decode(bytes);
    if (/^text\/|json|xml|yaml|javascript/.test(contentType) || !text.includes('\0')) return text;
  } catch {
    // binary: fall through
  }
  return `base64:${Buffer.from(bytes).toString('base64')}`;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
