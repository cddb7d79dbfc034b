/**
 * Helpers of the sync-profile tests: the app in-process over a test database (real config, real
 * verifier, logs captured), and calls to it and to a running stack.
 * @module
 */
import { DEV_PUBLISHABLE_KEY } from '../../local/dev-keys.ts';
import type { VerifierOptions } from '../../shared/jwt.ts';
import type { TestDb } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';

export { DEV_PUBLISHABLE_KEY };

import { SUPABASE_URL } from '../helpers/in_process.ts';
export { SUPABASE_URL };
export const ISSUER = `${SUPABASE_URL}/auth/v1`;

export type ResponseBody = { error?: { code: string; message: string }; profile?: Record<string, unknown> };
export type Call = { status: number; json: ResponseBody; headers: Headers };

/**
 * sync-profile in-process (tests/helpers/in_process.ts), with the dev env plus `env` overrides;
 * `verifier` tunes the real verifier (e.g. the JWKS refetch cooldown). `post` sends headers and
 * a raw body.
 */
export function inProcessApp(
  db: TestDb,
  env: Record<string, string | undefined> = {},
  verifier?: VerifierOptions,
) {
  const { app, config, logs, call } = inProcess('sync-profile', db, env, { verifier });
  const post = async (headers: Record<string, string>, body?: string): Promise<Call> => {
    const { status, json, headers: h } = await call({ headers, body });
    return { status, json: json as ResponseBody, headers: h };
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
