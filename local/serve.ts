/**
 * `deno run local/serve.ts`: the functions half of `npm run dev` (local/dev.mjs starts the
 * database and the front door, and runs this with the functions' environment). Ctrl-C / SIGTERM
 * stop it cleanly, and so does the end of its stdin: the dev process that started it is gone.
 * @module
 */
import { ConfigError } from '../shared/config.ts';
import type { AppFactory } from '../shared/serve.ts';
import { DEV_JWKS } from './dev-keys.ts';
import { startLocalStack } from './stack.ts';

/**
 * A user's project (`npx profile-sync dev`, `npm run dev -- --project <folder>`): the functions
 * installed there, each supabase/functions/<name>/app.ts that exports createApp (init writes
 * app.ts beside index.ts, whose Deno.serve would listen on its own). Undefined: this repository's.
 */
async function projectFunctions(project: string | undefined): Promise<Record<string, AppFactory> | undefined> {
  if (!project) return undefined;
  const found: Record<string, AppFactory> = {};
  for (const entry of Deno.readDirSync(`${project}/supabase/functions`)) {
    const app = `${project}/supabase/functions/${entry.name}/app.ts`;
    if (!entry.isDirectory || entry.name.startsWith('_')) continue;
    try {
      Deno.statSync(app);
    } catch {
      continue;
    }
    const module = await import(`file://${app}`);
    if (typeof module.createApp === 'function') found[entry.name] = module.createApp;
  }
  return found;
}

/** How often the stack calls reconcile itself, as the pg_cron job does on Supabase. */
const RECONCILE_EVERY_MS = 10 * 60_000;
/** How long requests in flight may go on once the stack is told to stop. */
export const STOP_GRACE_MS = 2000;

const env = Deno.env.toObject();
try {
  const local = env.PROFILE_SYNC_LOCAL_RELAY === '1';
  // The stack is its own Auth (dev JWKS and dev tokens) only when dev.mjs says so: no SUPABASE_URL
  // or SUPABASE_JWKS was given.
  const ownAuth = env.PROFILE_SYNC_LOCAL_DEV_TOKENS === '1';
  const stack = await startLocalStack({
    env,
    port: Number(env.PROFILE_SYNC_FUNCTIONS_PORT ?? env.PORT ?? 54321),
    hostname: '127.0.0.1',
    relay: local,
    devTokens: ownAuth,
    jwks: ownAuth ? DEV_JWKS : undefined,
    reconcileEveryMs: local ? RECONCILE_EVERY_MS : undefined,
    functions: await projectFunctions(env.PROFILE_SYNC_PROJECT || undefined),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Requests in flight get a moment to finish, no more: a graceful shutdown waits for every one
    // of them (a reconcile with a 140 s budget, a request stuck on a lock), and meanwhile dev.mjs
    // keeps Postgres up for them. Resumable work (reconcile) resumes at the next call.
    const exit = setTimeout(() => Deno.exit(0), STOP_GRACE_MS);
    Deno.unrefTimer(exit);
    await stack.close();
    Deno.exit(0);
  };
  Deno.addSignalListener('SIGINT', stop);
  Deno.addSignalListener('SIGTERM', stop);
  console.error(`functions listening on ${stack.url}/functions/v1/`);
  if (env.PROFILE_SYNC_WATCH_STDIN === '1') {
    // read stdin to its end: that is the dev process exiting, however it went
    for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
    await stop();
  }
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    Deno.exit(2);
  }
  if (err instanceof Deno.errors.AddrInUse) {
    console.error(`port ${env.PROFILE_SYNC_FUNCTIONS_PORT ?? env.PORT ?? 54321} is already in use: stop what holds it or set PORT to a free port`);
    Deno.exit(2);
  }
  throw err;
}
