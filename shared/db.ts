/**
 * The Postgres client: postgres.js with `prepare: false` (Supavisor transaction mode has no
 * prepared statements), a bounded pool, created once per isolate; and the one place that decides
 * whether a database error means "unavailable, retry" (503) rather than a bug.
 * @module
 */
import postgres from 'postgres';
import { AppError } from './errors.ts';

export type Sql = postgres.Sql;

/**
 * A pool. Its connections close after 20 s idle and 30 min of life, except with `lasting`: a
 * connection that holds session state (reconcile's lock) must live as long as its holder needs it.
 */
export function createDb(
  url: string,
  options: { max?: number; application?: string; lasting?: boolean; onclose?: () => void } = {},
): Sql {
  return postgres(url, {
    onclose: options.onclose,
    prepare: false,
    max: options.max ?? 5,
    idle_timeout: options.lasting ? 0 : 20,
    connect_timeout: 5,
    // postgres.js backs off reconnects up to 20 s (3^failures/100 s, shared by the pool) and
    // queues requests behind that: during a restart requests would hang past pg_net's timeout
    // instead of getting the 503 a sender retries, and recovery would lag. Capped at 0.2 s.
    backoff: (failures: number) => Math.min(0.05 * failures, 0.2),
    max_lifetime: options.lasting ? 0 : 60 * 30,
    onnotice: () => {},
    connection: { application_name: options.application ?? 'profile-sync' },
  });
}

// SQLSTATE classes/codes that mean the database cannot serve us right now.
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '40001', // serialization_failure: retryable
  '40P01', // deadlock_detected: retryable
]);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

export function isDbUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_NODE_CODES.has(code)) return true;
  if (e.name === 'ConnectionRefused' || e.name === 'ConnectionReset') return true;
  return typeof e.message === 'string' &&
    /connection (refused|reset|closed|terminated)|write CONNECTION_CLOSED/i.test(e.message);
}

// A pooled connection that the server or a pooler closed while idle fails on its first use.
const DROPPED_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNRESET',
  'EPIPE',
  '57P01',
]);
export const isDroppedConnection = (err: unknown) =>
  DROPPED_CODES.has(String((err as { code?: unknown } | null)?.code));

// Errors of one transaction meeting another (sync_isolated raises them for its caller to retry):
// the same work succeeds when tried again a moment later.
const CONFLICT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);
export const isTransientConflict = (err: unknown) =>
  CONFLICT_CODES.has(String((err as { code?: unknown } | null)?.code));

/**
 * Runs a transaction that is safe to repeat; when it loses a deadlock, a serialization or a lock
 * timeout to a concurrent one (Auth deleting users, a webhook syncing the same ones), it is tried
 * again after a short random pause, up to `attempts` times in all; the last error is raised.
 */
export async function retryConflicts<T>(work: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= attempts || !isTransientConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

/**
 * Runs a database call; an outage becomes AppError('database_unavailable') with Retry-After.
 * `idempotent` work met by a dropped connection is retried once on a fresh one: pg_net and
 * pg_cron never retry, so the first request after a restart or a pooler recycle would otherwise
 * be lost. A database that refuses or times out is not retried: that is the 503 the caller sees.
 */
export async function withDb<T>(work: () => Promise<T>, options: { idempotent?: boolean } = {}): Promise<T> {
  try {
    return await work().catch((err) => {
      if (options.idempotent && isDroppedConnection(err)) return work();
      throw err;
    });
  } catch (err) {
    if (isDbUnavailable(err)) {
      throw new AppError('database_unavailable', { cause: err, headers: { 'Retry-After': '5' } });
    }
    throw err;
  }
}
