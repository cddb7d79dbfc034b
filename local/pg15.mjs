// Debian's PostgreSQL 15 as Supabase runs Postgres: JIT on with llvmjit, the Micro compute's memory
// settings, pg_cron preloaded. A throwaway cluster (initdb in a temp dir, superuser supabase_admin)
// for `npm run test:pg15` and `npm run bench`; the OS packages come from apt (.ci/run installs them).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SUPABASE_JIT_SETTINGS, SUPABASE_MICRO_SETTINGS } from './server-settings.mjs';

export const PG15_BIN = '/usr/lib/postgresql/15/bin';
const PG15_LIB = '/usr/lib/postgresql/15/lib';
/** The one command that installs what the PostgreSQL 15 runs need (Debian; .ci/run runs it). */
export const PG15_INSTALL = 'apt-get install -y postgresql-15 postgresql-15-cron';

/** The files a JIT-capable PostgreSQL 15 with pg_cron needs that this machine lacks (none: it runs). */
export function pg15Missing() {
  return [`${PG15_BIN}/initdb`, `${PG15_BIN}/pg_ctl`, `${PG15_LIB}/llvmjit.so`, `${PG15_LIB}/pg_cron.so`]
    .filter((f) => !existsSync(f));
}

function run(cmd, args) {
  // Postgres refuses to run as root: as root, run its programs as the `postgres` OS user.
  const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const out = spawnSync(file, argv, { encoding: 'utf8' });
  if (out.status !== 0) {
    throw new Error(`${cmd.split('/').pop()} ${args.at(-1)} failed (exit ${out.status}):\n${out.stdout}${out.stderr}`);
  }
}

/**
 * initdb and start a PostgreSQL 15 cluster on `port` with Supabase's settings plus `settings`
 * (name → value; fsync off unless given: a throwaway cluster needs no crash safety). Its
 * superuser is `supabase_admin` (the tests make `postgres` a non-superuser owner), or `superuser`.
 * Returns the superuser URL and `stop()`, which removes every file.
 */
export function startPg15({ port, settings = {}, superuser = 'supabase_admin' }) {
  const missing = pg15Missing();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: install Debian's PostgreSQL 15 with pg_cron: ${PG15_INSTALL}`);
  const parent = mkdtempSync(join(tmpdir(), 'profile-sync-pg15-'));
  chmodSync(parent, 0o777); // the postgres OS user writes the data, the socket and the log here
  const data = join(parent, 'data');
  const all = {
    max_connections: 200, fsync: 'off', listen_addresses: '127.0.0.1', port, unix_socket_directories: parent,
    ...SUPABASE_MICRO_SETTINGS, ...SUPABASE_JIT_SETTINGS, ...settings,
  };
  const options = Object.entries(all).map(([name, value]) => `-c ${name}=${value}`).join(' ');
  const stop = (mode = 'fast') => run(`${PG15_BIN}/pg_ctl`, ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  try {
    run(`${PG15_BIN}/initdb`, ['-D', data, '-U', superuser, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    run(`${PG15_BIN}/pg_ctl`, ['-D', data, '-o', options, '-l', join(parent, 'postgres.log'), '-w', '-t', '60', 'start']);
  } catch (err) {
    rmSync(parent, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: `postgresql://${superuser}@127.0.0.1:${port}/postgres`,
    log: join(parent, 'postgres.log'),
    /** Stops the server and removes its files (synchronously, once; a promise for callers that await or catch). */
    // deno-lint-ignore require-await
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        stop();
      } catch {
        try { stop('immediate'); } catch { /* already gone */ }
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    },
  };
}
