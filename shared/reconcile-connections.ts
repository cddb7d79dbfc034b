/**
 * Who may hold a database connection during a reconcile. A run needs one session of its own (the
 * reconcile lock belongs to a session, which a transaction pooler does not keep); everything else
 * it does (page syncs, dry runs, status) goes through the function's pool. The function's pool is
 * shrunk by that one session (`RUN_SESSIONS`, see shared/serve.ts), so a reconcile isolate holds at
 * most PROFILE_SYNC_DB_POOL_MAX connections (2 when the setting is 1). One run per isolate opens its
 * session (the run gate); a concurrent caller is refused with 409 before it opens anything, and
 * the database lock still refuses runs from other isolates or the CLI.
 * @module
 */
import { createDb, isDroppedConnection } from './db.ts';
import type { Sql } from './db.ts';
import { AppError } from './errors.ts';

/** Connections a reconcile isolate keeps out of its pool for a run's session. */
export const RUN_SESSIONS = 1;

/** The pool for short calls and page syncs, and the URL a real run opens its session with. */
export type ReconcileDb = { sql: Sql; dbUrl: string };

/**
 * The URL a run's session connects with. The reconcile lock belongs to a session, which a
 * transaction pooler does not keep: Supabase's pooler in transaction mode (port 6543) is asked for
 * session mode instead (port 5432, same host and credentials). Any other URL is used as given.
 */
export function sessionUrl(dbUrl: string): string {
  const url = new URL(dbUrl);
  if (url.port === '6543' && url.hostname.endsWith('.pooler.supabase.com')) url.port = '5432';
  return url.toString();
}

/**
 * The run's session: one connection, closed when the run ends, and never before. It sits idle
 * while the pool syncs a page (tens of seconds on a slow page), and a connection closed then
 * takes the lock with it (the next call fails: "this session does not hold the reconcile lock").
 * So no idle timeout or lifetime on our side (`lasting`), and none on the server's (the run's
 * first statement turns idle_session_timeout off). (Not a connection reserved from the pool:
 * postgres.js 3.4 puts a reserved connection that the server closed back into the pool as if
 * open, and the next query on it crashes the process; and the pool may be a transaction pooler,
 * where a session lock does not hold.)
 */
export function openRunSession(dbUrl: string): RunSession {
  let closed = false;
  const sql = createDb(sessionUrl(dbUrl), {
    max: 1,
    application: 'profile-sync/reconcile',
    lasting: true,
    onclose: () => (closed = true),
  });
  return { sql, closed: () => closed };
}

/**
 * A run's session and whether its connection has closed. Closed while idle (killed, a restart),
 * the lock went with it, yet no call failed: postgres.js opens a new connection for the next call,
 * which then fails for want of the lock (55000), not as a lost connection.
 */
export type RunSession = { sql: Sql; closed(): boolean };

/** Whether an error means the session is gone (and its lock with it). */
export const connectionLost = (err: unknown) =>
  isDroppedConnection(err) || /^(08|57P0)/.test(String((err as { code?: unknown } | null)?.code));

/**
 * One real run at a time in this process: a second caller gets AppError('reconcile_in_progress')
 * at once, without a connection. (Other processes are kept out by the database lock.)
 */
export function createRunGate() {
  let busy = false;
  return async function exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (busy) throw new AppError('reconcile_in_progress');
    busy = true;
    try {
      return await work();
    } finally {
      busy = false;
    }
  };
}

/** Runs at most `n` of the given tasks at once (page syncs on the shared pool). */
export function createLimiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function limited<T>(task: () => Promise<T>): Promise<T> {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
