/**
 * A throwaway Debian PostgreSQL 15 cluster with pg_cron preloaded (the packages .ci/run installs),
 * for the schedule migration and `doctor` on a database that really has pg_cron. Databases get the
 * stand-ins and migrations as `npm test` does.
 * @module
 */
import postgres from 'postgres';
import { initServer } from '../helpers/postgres_server.ts';

import { PG15_BIN, PG15_INSTALL, pg15Missing } from '../../local/pg15.mjs';

export { PG15_INSTALL, pg15Missing };
const INSTALL_HINT = `install Debian's PostgreSQL 15 with pg_cron: ${PG15_INSTALL} (.ci/run does this)`;

/**
 * Whether to skip the PostgreSQL 15 tests: only outside CI, when the OS packages are missing (a
 * fresh machine after `npm install`); it says so with the command that installs them. In CI
 * (CI=true) they always run, and fail saying what is missing.
 */
export function skipPg15(): boolean {
  const missing: string[] = pg15Missing();
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

  const server = await initServer(PG15_BIN, [
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
