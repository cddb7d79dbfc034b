#!/usr/bin/env node
// `npm run dev`: the local stack. Embedded Postgres 17 (data kept in .local/dev-pg, port 54322
// unless PROFILE_SYNC_DB_PORT is set) with the Supabase stand-ins and the migrations, or the
// database in SUPABASE_DB_URL used as it is; the functions served by Deno on
// http://127.0.0.1:${PORT:-54321}/functions/v1/<name>; the pg_net relay; the dev JWKS.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { ROOT, applyStandIns, pushMigrations, startEmbedded } from './postgres.mjs';

const keys = JSON.parse(readFileSync(join(ROOT, 'local', 'dev-keys.json'), 'utf8'));
const fail = (msg) => {
  console.error(`profile-sync dev: ${msg}`);
  process.exit(2);
};

const port = Number(process.env.PORT ?? 54321);
const dbPort = Number(process.env.PROFILE_SYNC_DB_PORT ?? 54322);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT must be a TCP port number, got "${process.env.PORT}"`);
if (!Number.isInteger(dbPort) || dbPort < 1 || dbPort > 65535) fail(`PROFILE_SYNC_DB_PORT must be a TCP port number, got "${process.env.PROFILE_SYNC_DB_PORT}"`);

const supabaseUrl = `http://127.0.0.1:${port}`;
// The dev keys unless the environment gives others; the Vault secrets below follow whichever is used,
// so the trigger signs with the secret the function verifies against.
const webhookSecret = process.env.PROFILE_SYNC_WEBHOOK_SECRET || keys.webhookSecret;
let secretKeys;
try {
  secretKeys = process.env.SUPABASE_SECRET_KEYS ? JSON.parse(process.env.SUPABASE_SECRET_KEYS) : { default: keys.secretKey };
} catch {
  fail('SUPABASE_SECRET_KEYS must be JSON such as {"default":"sb_secret_…"}');
}
const adminKey = Object.values(secretKeys ?? {})[0] ?? process.env.SUPABASE_SERVICE_ROLE_KEY;
if (typeof adminKey !== 'string' || adminKey === '') fail('SUPABASE_SECRET_KEYS must hold at least one key');
const external = process.env.SUPABASE_DB_URL;
let dbUrl = external;
let stopDb = async () => {};

/** Vault secrets the trigger and the pg_cron job read, pointed at this stack. */
async function setLocalVaultSecrets(url) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const secrets = {
    profile_sync_webhook_url: `${supabaseUrl}/functions/v1/auth-webhook`,
    profile_sync_webhook_secret: webhookSecret,
    profile_sync_reconcile_url: `${supabaseUrl}/functions/v1/reconcile`,
    profile_sync_admin_key: adminKey,
  };
  try {
    for (const [name, value] of Object.entries(secrets)) {
      await sql`delete from vault.secrets where name = ${name}`;
      await sql`select vault.create_secret(${value}, ${name})`;
    }
  } finally {
    await sql.end();
  }
}

const started = Date.now();
if (external) {
  if (!/^postgres(ql)?:\/\//.test(external)) fail('SUPABASE_DB_URL must be a postgres:// URL');
  console.error('using the database in SUPABASE_DB_URL as it is (no stand-ins, no migrations, no relay)');
} else {
  mkdirSync(join(ROOT, '.local', 'dev-pg'), { recursive: true });
  try {
    const db = await startEmbedded({ dataDir: join(ROOT, '.local', 'dev-pg', 'data'), port: dbPort });
    dbUrl = db.url;
    stopDb = () => db.stop();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err ?? 'no reason given');
    fail(
      `could not start embedded Postgres (data in .local/dev-pg, port ${dbPort}): ${reason}.\n` +
        'Is another `npm run dev` running? Stop it, or set PROFILE_SYNC_DB_PORT to a free port.',
    );
  }
  await applyStandIns(dbUrl);
  await pushMigrations(dbUrl);
  await setLocalVaultSecrets(dbUrl);
}

const env = {
  ...process.env,
  SUPABASE_DB_URL: dbUrl,
  SUPABASE_URL: supabaseUrl,
  SUPABASE_JWKS: process.env.SUPABASE_JWKS ?? JSON.stringify({ keys: [(({ d: _d, ...pub }) => pub)(keys.signingJwk)] }),
  SUPABASE_SECRET_KEYS: JSON.stringify(secretKeys),
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
  PROFILE_SYNC_WEBHOOK_SECRET: webhookSecret,
  PROFILE_SYNC_LOCAL_RELAY: external ? '0' : '1',
  PORT: String(port),
};
const deno = spawn(join(ROOT, 'node_modules', '.bin', 'deno'), ['run', '-A', '--no-prompt', join(ROOT, 'local', 'serve.ts')], {
  cwd: ROOT,
  env,
  stdio: ['ignore', 'inherit', 'pipe'],
});

let ready = false;
deno.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  if (!ready && String(chunk).includes('functions listening')) {
    ready = true;
    const dbShown = external ? '(SUPABASE_DB_URL)' : dbUrl;
    console.log(`
profile-sync local stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)

  functions     ${supabaseUrl}/functions/v1/{auth-webhook,sync-profile,reconcile}
  jwks          ${supabaseUrl}/auth/v1/.well-known/jwks.json
  database      ${dbShown}
  secret key    ${adminKey}
  publishable   ${keys.publishableKey}
  webhook secret ${webhookSecret}

Try it:
  psql ${external ? '"$SUPABASE_DB_URL"' : dbUrl} -c "insert into auth.users (id, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at) values (gen_random_uuid(), 'ada@example.com', '{\\"full_name\\":\\"Ada\\"}', '{\\"provider\\":\\"email\\"}', now(), now())"
  psql ${external ? '"$SUPABASE_DB_URL"' : dbUrl} -c "select id, email, full_name, role from public.profiles"
  curl -s -H "apikey: ${adminKey}" ${supabaseUrl}/functions/v1/reconcile

Ctrl-C stops everything.`);
  }
});

let stopping = false;
const shutdown = async (code = 0) => {
  if (stopping) return;
  stopping = true;
  deno.kill('SIGTERM');
  await new Promise((r) => (deno.exitCode !== null ? r() : deno.once('close', r)));
  await stopDb().catch(() => {});
  process.exit(code);
};
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
deno.on('close', (code) => {
  if (!stopping) {
    console.error(`profile-sync dev: the functions server exited (${code}); stopping`);
    void shutdown(code ?? 1);
  }
});
