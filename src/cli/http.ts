/** The CLI's HTTP calls (undici). One agent, closed by main so the process can exit promptly. */
import { Agent, request } from 'undici';
import { CliError } from './errors.js';

const agent = new Agent({ keepAliveTimeout: 1_000, connect: { timeout: 2_000 } });

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpOptions {
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One request; network failures and timeouts reject (the caller decides what "down" means). */
export async function http(url: string, opts: HttpOptions = {}): Promise<HttpReply> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const res = await request(url, {
    dispatcher: agent,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    body: opts.body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** GET and parse JSON; undefined when unreachable, not 200, or not JSON. */
export async function getJson<T>(url: string, timeoutMs: number): Promise<T | undefined> {
  try {
    const res = await http(url, { timeoutMs });
    return res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The API's error envelope as one line: "not_found (404): no such key". */
export function describeError(res: HttpReply): string {
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (parsed.error?.code) return `${parsed.error.code} (${res.status}): ${parsed.error.message ?? ''}`.trim();
  } catch {
    // not our envelope: fall through to the raw body
  }
  const text = res.body.toString('utf8').trim().slice(0, 200);
  return `HTTP ${res.status}${text ? `: ${text}` : ''}`;
}

/** Normalises --node: "127.0.0.1:7001" and "http://…/" both become "http://127.0.0.1:7001". */
export function baseUrl(node: string): string {
  const withScheme = /^https?:\/\//.test(node) ? node : `http://${node}`;
  try {
    return new URL(withScheme).origin;
  } catch {
    throw new CliError(`--node: "${node}" is not a URL`, 2);
  }
}

export function closeHttp(): Promise<void> {
  return agent.close();
}
