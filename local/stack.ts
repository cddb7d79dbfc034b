/**
 * The local stack in one Deno process: every function at /functions/v1/<name> (the function
 * sees /<name>/…, as behind Supabase's gateway), the dev JWKS at /auth/v1/.well-known/jwks.json
 * while the stack is its own Auth, and, on the embedded database, the pg_net relay. Used by `npm run dev` and by the tests.
 * @module
 */
import { RUN_SESSIONS } from '../shared/reconcile-connections.ts';
import { createDeps } from '../shared/serve.ts';
import type { AppFactory, Deps } from '../shared/serve.ts';
import { createLogger } from '../shared/log.ts';
import type { Logger } from '../shared/log.ts';
import { DEV_TOKEN_PATH, devTokenResponse } from './dev-token.ts';
import { FUNCTIONS } from './functions.ts';
import { startRelay } from './relay.ts';
import { setRolePolicy } from '../shared/sync.ts';
import type { Relay } from './relay.ts';

export type LocalStack = {
  url: string;
  port: number;
  deps: Deps;
  relay?: Relay;
  close(): Promise<void>;
};

export type StackOptions = {
  env: Record<string, string | undefined>;
  port?: number;
  hostname?: string;
  /** Send what the pg_net stand-in queues (only for a database that has the stand-in). */
  relay?: boolean;
  log?: Logger;
  /**
   * A JWKS to serve at /auth/v1/.well-known/jwks.json (the stand-in for Auth's): only while the
   * stack is its own Auth. Without it nothing is served there, so a stack whose SUPABASE_URL is
   * its own URL trusts no key (README: "no dev JWKS").
   */
  jwks?: unknown;
  /** Serve GET /auth/v1/dev/token (local/dev-token.ts): only when the stack is its own Auth. */
  devTokens?: boolean;
  /** Call reconcile every this many ms, as the pg_cron job does on Supabase (no pg_cron locally). */
  reconcileEveryMs?: number;
  /** The functions to serve, by name: this repository's by default (e.g. the copies init installed). */
  functions?: Record<string, AppFactory>;
};

export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  // One process serves reconcile too: its run session counts against the pool (RUN_SESSIONS).
  const deps = createDeps(options.env, 'profile-sync/local', { sessions: RUN_SESSIONS });
  if (options.log) deps.log = options.log;
  const log = deps.log ?? createLogger();
  const apps = Object.fromEntries(Object.entries(options.functions ?? FUNCTIONS).map(([name, make]) => [name, make(deps)]));
  const jwks = options.jwks;

  const handler = (req: Request): Response | Promise<Response> => {
    const url = new URL(req.url);
    if (jwks && url.pathname === '/auth/v1/.well-known/jwks.json') {
      return Response.json(jwks, { headers: { 'cache-control': 'public, max-age=600' } });
    }
    if (options.devTokens && url.pathname === DEV_TOKEN_PATH) return devTokenResponse(req, deps);
    const m = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const app = m ? apps[m[1]] : undefined;
    if (!m || !app) {
      return Response.json({ error: { code: 'not_found', message: 'No such function.' } }, { status: 404 });
    }
    url.pathname = `/${m[1]}${m[2] ?? ''}`;
    // A new request for the function's path, with the client's signal (aborted when the client
    // goes away, as on the platform; Deno also aborts it once the response is sent).
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    return app.fetch(
      new Request(url, {
        method: req.method,
        headers: req.headers,
        body: hasBody ? req.body : undefined,
        signal: req.signal,
        ...(hasBody ? { duplex: 'half' } : {}),
      } as RequestInit),
    );
  };

  // A local-stack convenience: PROFILE_SYNC_DEFAULT_ROLE / _SELF_ASSIGNABLE_ROLES, when set, become
  // the database's role policy (profile_sync.settings), which every path reads.
  if (deps.config.rolePolicy) await setRolePolicy(deps.sql, deps.config.rolePolicy);

  const server = Deno.serve(
    { port: options.port ?? 0, hostname: options.hostname ?? '127.0.0.1', onListen: () => {} },
    handler,
  );
  const port = server.addr.port;
  const relay = options.relay ? await startRelay(deps.sql, log) : undefined;
  const schedule = options.reconcileEveryMs
    ? setInterval(() => void scheduledReconcile(apps.reconcile, deps, log), options.reconcileEveryMs)
    : undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    deps,
    relay,
    async close() {
      clearInterval(schedule);
      await relay?.close();
      await server.shutdown();
      await deps.sql.end({ timeout: 1 });
    },
  };
}

/** What the pg_cron job sends on Supabase: an 8 s reconcile with the admin key (migration 20261121000500). */
async function scheduledReconcile(app: ReturnType<AppFactory>, deps: Deps, log: Logger): Promise<void> {
  const key = deps.config.adminKeys[0];
  if (!key) return;
  try {
    const res = await app.fetch(new Request('http://127.0.0.1/reconcile', {
      method: 'POST',
      headers: { apikey: key, 'content-type': 'application/json' },
      body: JSON.stringify({ time_budget_ms: 8000 }),
    }));
    await res.body?.cancel();
  } catch (err) {
    log.warn('scheduled reconcile failed', { err });
  }
}
