/**
 * A throwaway Debian PostgreSQL 15 cluster with pg_cron preloaded (the packages .ci/run installs),
 * run as the `postgres` OS user in a temp dir, for the schedule migration and `doctor` on a
 * database that really has pg_cron. Databases get the stand-ins and migrations as `npm test` does.
 * @module
 */
import postgres from 'postgres';
import { freePort } from '../helpers/stack.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const PG15 = '/usr/lib/postgresql/15';
const NEEDED = [`${PG15}/bin/initdb`, `${PG15}/bin/pg_ctl`, `${PG15}/lib/pg_cron.so`];
const INSTALL_HINT = 'install Debian\'s PostgreSQL 15 with pg_cron: apt-get install -y postgresql-15 postgresql-15-cron ' +
  '(.ci/run does this)';

export type Pg15 = {
  /** Creates a database with the stand-ins (optionally without pg_net / Vault) and the migrations. */
  database(name: string, standIns?: { withNet?: boolean; withVault?: boolean }): Promise<string>;
  close(): Promise<void>;
};

async function run(cmd: string, args: string[], options: { asPostgres?: boolean; env?: Record<string, string> } = {}) {
  const [file, argv] = options.asPostgres && Deno.uid() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const out = await new Deno.Command(file, { args: argv, cwd: ROOT, env: options.env, stdout: 'piped', stderr: 'piped' }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.split('/').pop()} ${args[0] ?? ''} failed (exit ${out.code}):\n${text}`);
  return text;
}

/** Starts the cluster with pg_cron loaded for `cronDatabase`; fails saying what to install if it cannot. */
export async function startPg15(cronDatabase: string): Promise<Pg15> {
  const missing = NEEDED.filter((f) => {
    try {
      Deno.statSync(f);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: ${INSTALL_HINT}`);

  const parent = await Deno.makeTempDir({ prefix: 'profile-sync-pg15-' });
  await Deno.chmod(parent, 0o777);
  const data = `${parent}/data`;
  const port = freePort();
  await run(`${PG15}/bin/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'], { asPostgres: true });
  const settings = [
    `-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${parent}`, '-c fsync=off',
    '-c shared_preload_libraries=pg_cron', `-c cron.database_name=${cronDatabase}`,
  ].join(' ');
  await run(`${PG15}/bin/pg_ctl`, ['-D', data, '-o', settings, '-l', `${parent}/postgres.log`, '-w', '-t', '30', 'start'], { asPostgres: true });
  const admin = postgres(`postgresql://postgres@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {} });

  return {
    async database(name, standIns = {}) {
      await admin.unsafe(`create database "${name}"`);
      const url = `postgresql://postgres@127.0.0.1:${port}/${name}`;
      await run('node', [
        '--input-type=module',
        '-e',
        `import { applyStandIns, pushMigrations } from './local/postgres.mjs';
         await applyStandIns(process.env.URL, JSON.parse(process.env.STAND_INS));
         await pushMigrations(process.env.URL);`,
      ], { env: { URL: url, STAND_INS: JSON.stringify(standIns) } });
      return url;
    },
    async close() {
      await admin.end({ timeout: 1 });
      await run(`${PG15}/bin/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop'], { asPostgres: true }).catch(() => {});
      await Deno.remove(parent, { recursive: true });
    },
  };
}
