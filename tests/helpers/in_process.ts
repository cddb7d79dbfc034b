/**
 * Any function of the registry built in-process over a test database, as the stack builds it
 * (dev env, real config, real verifiers), with its log captured: for fast `app.request()` tests.
 * @module
 */
import { devEnv } from '../../local/dev-keys.ts';
import { FUNCTIONS } from '../../local/functions.ts';
import { createApp as createSyncProfile } from '../../functions/sync-profile/app.ts';
import { loadConfig } from '../../shared/config.ts';
import { createTokenVerifier } from '../../shared/jwt.ts';
import type { VerifierOptions } from '../../shared/jwt.ts';
import type { Sql } from '../../shared/db.ts';
import { createLogger } from '../../shared/log.ts';

/** The project URL of in-process apps: only the JWT issuer depends on it (the JWKS is inline). */
export const SUPABASE_URL = 'http://127.0.0.1:54321';

export type Answer = {
  status: number;
  json: { error?: { code: string; message: string } } & Record<string, unknown>;
  headers: Headers;
};

/**
 * `env` overrides the dev environment; `verifier` tunes sync-profile's real token verifier (e.g.
 * the JWKS refetch cooldown).
 */
export function inProcess(
  name: keyof typeof FUNCTIONS,
  db: { url: string; sql: Sql },
  env: Record<string, string | undefined> = {},
  options: { verifier?: VerifierOptions } = {},
) {
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
  const config = loadConfig({ ...devEnv(db.url, SUPABASE_URL), ...env });
  const deps = { config, sql: db.sql, log };
  const app = name === 'sync-profile' && options.verifier
    ? createSyncProfile(deps, { verifyToken: createTokenVerifier(config, options.verifier) })
    : FUNCTIONS[name](deps);
  /** One request to the function's root path; a non-string body is JSON-encoded. */
  const call = async (
    init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<Answer> => {
    const body = init.body === undefined || typeof init.body === 'string'
      ? init.body
      : JSON.stringify(init.body);
    const res = await app.fetch(
      new Request(`http://functions.local/${name}`, {
        method: init.method ?? 'POST',
        headers: init.headers,
        body,
      }),
    );
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
  };
  return { app, config, logs, call };
}
