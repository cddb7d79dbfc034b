/**
 * A throwaway Debian PostgreSQL 15 cluster with pg_cron preloaded (the packages .ci/run installs),
 * for the schedule migration and `doctor` on a database that really has pg_cron. Databases get the
 * stand-ins and migrations as `npm test` does.
 * @module
 */
import postgres from 'postgres';
import { initServer } from '../helpers/postgres_server.ts';

const PG15 = '/usr/lib/postgresql/15';
const NEEDED = [`${PG15}/bin/initdb`, `${PG15}/bin/pg_ctl`, `${PG15}/lib/pg_cron.so`];
/** The one command that installs what these tests need (Debian; .ci/run runs it). */
export const PG15_INSTALL = 'apt-get install -y postgresql-15 postgresql-15-cron';
const INSTALL_HINT = `install Debian's PostgreSQL 15 with pg_cron: ${PG15_INSTALL} (.ci/run does this)`;

/** The files these tests need that this machine lacks (none: they run). */
export function pg15Missing(): string[] {
  return NEEDED.filter((f) => {
    try {
      Deno.statSync(f);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * Whether to skip the PostgreSQL 15 tests: only outside CI, when the OS packages are missing (a
 * fresh machine after `npm install`); it says so with the command that installs them. In CI
 * (CI=true) they always run, and fail saying what is missing.
 */
export function skipPg15(): boolean {
  const missing = pg15Missing();
  if (missing.length === 0 || Deno.env.get('CI') === 'true') return false;
  console.warn(`skipping the PostgreSQL 15 + pg_cron tests: missing ${missing.join(', ')}; to run them: ${PG15_INSTALL}`);
  return true;
}

export type Pg15 = {
  /** Creates a database with the stand-ins (optionally without pg_net / Vault) and the migrations. */
  database(name: string, standIns?: { withNet?: boolean; withVault?: boolean }): Promise<string>;
  close(): Promise<void>;
};

/** Starts the cluster with pg_cron loaded for `cronDatabase`; fails saying what to install if it cannot. */
export async function startPg15(cronDatabase: string): Promise<Pg15> {
  const missing = pg15Missing();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: ${INSTALL_HINT}`);

  const server = await initServer(`${PG15}/bin`, [
    'shared_preload_libraries=pg_cron',
    `cron.database_name=${cronDatabase}`,
  ]);
  await server.start();
  const admin = postgres(server.url('postgres'), { max: 1, onnotice: () => {} });

  return {
    async database(name, standIns = {}) {
      await admin.unsafe(`create database "${name}"`);
      const url = server.url(name);
      await server.migrate(url, standIns);
      return url;
    },
    async close() {
      await admin.end({ timeout: 1 });
      await server.remove();
    },
  };
}
