/**
 * HTTP plumbing shared by the functions: the Hono app shell (base path `/<name>`), one onError
 * that turns AppError into `{"error":{code,message}}` and anything else into a logged 500,
 * CORS with the headers supabase-js sends, and JSON body parsing with a size limit.
 * @module
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { corsHeaders } from '@supabase/supabase-js/cors';
import { AppError, isAppError } from './errors.ts';
import type { Fields, Level, Logger } from './log.ts';

export { corsHeaders };

/** What a handler did, for its request's one log line. */
type Outcome = { level: Level; msg: string; fields: Fields };
export type AppEnv = { Variables: { log: Logger; requestId: string; outcome?: Outcome } };

/**
 * A request id from the platform (`sb-request-id`) or the caller (`x-request-id`) is kept when it
 * is short and plain (what gateways and uuids look like); anything else is replaced by a uuid, so
 * a caller cannot put 60 KB or control characters into every log line.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(headers: Headers): { id: string; replaced: boolean } {
  let replaced = false;
  for (const name of ['sb-request-id', 'x-request-id']) {
    const value = headers.get(name);
    if (value === null) continue;
    if (REQUEST_ID.test(value)) return { id: value, replaced };
    replaced = true;
  }
  return { id: crypto.randomUUID(), replaced };
}

/**
 * Records what the handler did for the request's one log line, which the app shell writes once
 * the response is ready: `msg` replaces "request" and `fields` join method, path, status and ms.
 * (One line per request, refused ones included: each line costs a function ~20 µs of CPU.)
 */
export function logOutcome(c: Context<AppEnv>, msg: string, fields: Fields, level: Level = 'info'): void {
  c.set('outcome', { level, msg, fields });
}

export function errorResponse(err: AppError): Response {
  return new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers },
  });
}

/**
 * The app shell every function starts from. `cors: true` answers OPTIONS without auth and puts
 * the supabase-js CORS headers on every response, errors included. Every request, answered or
 * refused, writes one log line (at info; warn for a 503, error for a bug).
 */
export function createFunctionApp(name: string, log: Logger, options: { cors?: boolean } = {}) {
  const app = new Hono<AppEnv>().basePath(`/${name}`);

  app.use('*', async (c, next) => {
    const { id: requestId, replaced } = requestIdOf(c.req.raw.headers);
    c.set('requestId', requestId);
    c.set('log', log.child({ fn: name, request_id: requestId }));
    const started = performance.now();
    const writeLine = (status: number) => {
      const outcome = c.get('outcome');
      c.get('log')[outcome?.level ?? 'info'](outcome?.msg ?? 'request', {
        ...outcome?.fields,
        ...(replaced ? { request_id_replaced: true } : {}),
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        status,
        ms: Math.round(performance.now() - started),
      });
    };
    if (options.cors && c.req.method === 'OPTIONS') {
      writeLine(200);
      return new Response('ok', { status: 200, headers: corsHeaders });
    }
    await next();
    if (options.cors) for (const [k, v] of Object.entries(corsHeaders)) c.res.headers.set(k, v);
    writeLine(c.res.status);
  });

  // Records the error for the request's log line (written by the shell above) and answers it.
  app.onError((err, c) => {
    const done = c.get('outcome')?.fields; // what the handler recorded before it threw
    if (isAppError(err)) {
      if (err.status >= 500) logOutcome(c, 'request failed', { ...done, code: err.code, cause: err.cause }, 'warn');
      else if (err.code === 'request_aborted') logOutcome(c, 'request aborted', { code: err.code, cause: err.cause });
      else logOutcome(c, 'request refused', { ...done, code: err.code, detail: err.detail });
      return errorResponse(err);
    }
    logOutcome(c, 'unhandled error', { ...done, code: 'internal_error', err }, 'error');
    return errorResponse(new AppError('internal_error'));
  });

  app.notFound(() => errorResponse(new AppError('not_found')));
  return app;
}

/** Answers 405 for every method a route does not serve. */
export function methodNotAllowed(allowed: string[]) {
  return () => {
    throw new AppError('method_not_allowed', { headers: { Allow: allowed.join(', ') } });
  };
}

export type ReadOptions = {
  /**
   * The whole body must have arrived within this many ms of the call, else AppError
   * request_timeout (408, connection closed): a slow sender holds nothing past it.
   */
  timeoutMs?: number;
  /** Bytes to put before the body in the result (a signed message's prefix), copied once. */
  prefix?: Uint8Array;
};

/**
 * Reads the raw body, refusing more than maxBytes (413) whatever Content-Length says: a declared
 * length over the limit is refused before a byte is read. A client that goes away mid-body is
 * AppError('request_aborted') (logged at info), not an unhandled error. Chunks are kept as the
 * runtime hands them over (only what arrived), and joined once at the end.
 */
export async function readBody(c: Context, maxBytes: number, options: ReadOptions = {}): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new AppError('payload_too_large');
  const prefix = options.prefix ?? new Uint8Array(0);
  const body = c.req.raw.body;
  if (!body) return prefix;
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = options.timeoutMs === undefined ? undefined : new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), options.timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array> | 'expired';
      try {
        const read = reader.read();
        if (expired) read.catch(() => {}); // settled after the deadline by the cancel below
        chunk = expired ? await Promise.race([read, expired]) : await read;
      } catch (err) {
        throw new AppError('request_aborted', { cause: err });
      }
      if (chunk === 'expired') {
        await reader.cancel().catch(() => {});
        throw new AppError('request_timeout', { headers: { Connection: 'close' } });
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new AppError('payload_too_large');
      }
      chunks.push(chunk.value);
    }
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1 && prefix.byteLength === 0) return chunks[0];
  const all = new Uint8Array(prefix.byteLength + size);
  all.set(prefix);
  let offset = prefix.byteLength;
  for (const ch of chunks) {
    all.set(ch, offset);
    offset += ch.byteLength;
  }
  return all;
}

/** The body as text (invalid UTF-8 replaced, as JSON.parse would refuse it anyway). */
export function decodeText(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/** Reads the raw body as text, with readBody's limits. */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  return decodeText(await readBody(c, maxBytes));
}

/** Parses JSON text; invalid JSON is a coded 400, never a 500. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError('invalid_json');
  }
}
