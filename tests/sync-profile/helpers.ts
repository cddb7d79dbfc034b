/**
 * Helpers of the sync-profile tests: the app in-process over a test database (real config, real
 * verifier, logs captured), and calls to it and to a running stack.
 * @module
 */
import { DEV_PUBLISHABLE_KEY, devEnv } from '../../local/dev-keys.ts';
import { createApp } from '../../functions/sync-profile/app.ts';
import { loadConfig } from '../../shared/config.ts';
import { createTokenVerifier } from '../../shared/jwt.ts';
import type { VerifierOptions } from '../../shared/jwt.ts';
import { createLogger } from '../../shared/log.ts';
import type { TestDb } from '../helpers/db.ts';

export { DEV_PUBLISHABLE_KEY };

/** The project URL the in-process apps are configured with (only the issuer depends on it). */
export const SUPABASE_URL = 'http://127.0.0.1:54321';
export const ISSUER = `${SUPABASE_URL}/auth/v1`;

export type ResponseBody = { error?: { code: string; message: string }; profile?: Record<string, unknown> };
export type Call = { status: number; json: ResponseBody; headers: Headers };

/**
 * sync-profile built as the stack builds it, with the dev env plus `env` overrides; `verifier`
 * tunes the real verifier (e.g. the JWKS refetch cooldown).
 */
export function inProcessApp(
  db: TestDb,
  env: Record<string, string | undefined> = {},
  verifier?: VerifierOptions,
) {
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
  const config = loadConfig({ ...devEnv(db.url, SUPABASE_URL), ...env });
  const verifyToken = verifier ? createTokenVerifier(config, verifier) : undefined;
  const app = createApp({ config, sql: db.sql, log }, { verifyToken });
  const post = async (headers: Record<string, string>, body?: string): Promise<Call> => {
    const res = await app.request('/sync-profile', { method: 'POST', headers, body });
    return { status: res.status, json: await res.json(), headers: res.headers };
  };
  return { app, config, logs, post };
}

/** The headers supabase-js sends for a signed-in user: publishable apikey plus the user's token. */
export const userHeaders = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
  apikey: DEV_PUBLISHABLE_KEY,
});

/** The sync-profile URL of a running stack. */
export const syncProfileUrl = (stack: { url: string }) => `${stack.url}/functions/v1/sync-profile`;

/** POSTs to a running stack's sync-profile. */
export async function postStack(
  stack: { url: string },
  headers: Record<string, string>,
  body?: unknown,
): Promise<Call> {
  const res = await fetch(syncProfileUrl(stack), {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/**
 * A real HTTP server publishing a JWKS at /auth/v1/.well-known/jwks.json, as Supabase Auth does.
 * `keys` may be changed (rotation), `status` forced (outage); `fetches` counts requests.
 */
export function startJwksServer(keys: Record<string, unknown>[]) {
  const state = { keys, status: 200, fetches: 0 };
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== '/auth/v1/.well-known/jwks.json') {
      return new Response('no', { status: 404 });
    }
    state.fetches++;
    if (state.status !== 200) return new Response('upstream error', { status: state.status });
    return Response.json({ keys: state.keys });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return Object.assign(state, { url, issuer: `${url}/auth/v1`, close: () => server.shutdown() });
}
