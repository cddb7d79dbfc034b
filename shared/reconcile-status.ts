/**
 * Reconcile's status view (counts, drift, failures, the last run, the delivery queue), its mapping from SQL rows,
 * used by the reconcile function, the CLI and doctor; and a reader that lets concurrent callers
 * share one computation.
 * @module
 */
import type { Sql } from './db.ts';
import { withDb } from './db.ts';
import type { Database } from './database.types.ts';
import { deliveryStatus } from './deliveries.ts';
import { num } from './reconcile-types.ts';
import type { ReconcileStatus, RunSummary } from './reconcile-types.ts';

type StatusRow = Database['profile_sync']['Functions']['reconcile_status']['Returns'][number];

/** Counts, drift, synced share, failures and the last run; exact, and cheap at a million users. */
export async function reconcileStatus(sql: Sql): Promise<ReconcileStatus> {
  const [[row], deliveries] = await Promise.all([
    withDb(() =>
      sql<StatusRow[]>`
        select auth_users, profiles, missing, stale, orphaned, synced_percent, failures, last_run
        from profile_sync.reconcile_status()`
    ),
    deliveryStatus(sql),
  ]);
  return {
    auth_users: num(row.auth_users),
    profiles: num(row.profiles),
    missing: num(row.missing),
    stale: num(row.stale),
    orphaned: num(row.orphaned),
    synced_percent: num(row.synced_percent),
    failures: num(row.failures),
    last_run: row.last_run ? toRunSummary(row.last_run as Record<string, unknown>) : null,
    deliveries,
  };
}

/** A status and when it was computed: `computed_at` (ISO time its computation began), `age_ms`. */
export type TimedStatus = ReconcileStatus & { computed_at: string; age_ms: number };

/**
 * Status for many callers at once: a caller that arrives while a computation is running gets
 * that computation's answer (never a second query), so N concurrent callers cost the database one
 * status, and each answer says how old it is. Nothing is kept once the computation ends: the next
 * caller starts a fresh one.
 */
export function createStatusReader(sql: Sql): () => Promise<TimedStatus> {
  let running: Promise<{ status: ReconcileStatus; startedAt: number }> | undefined;
  return async () => {
    running ??= (async () => {
      const startedAt = Date.now();
      try {
        return { status: await reconcileStatus(sql), startedAt };
      } finally {
        running = undefined;
      }
    })();
    const { status, startedAt } = await running;
    return { ...status, computed_at: new Date(startedAt).toISOString(), age_ms: Date.now() - startedAt };
  };
}

/** A runs row (as JSON) in the shape status reports it. */
export function toRunSummary(r: Record<string, unknown>): RunSummary {
  const count = (k: string) => num(r[k]);
  return {
    id: count('id'),
    status: r.status as RunSummary['status'],
    dry_run: Boolean(r.dry_run),
    started_at: String(r.started_at),
    finished_at: (r.finished_at as string | null) ?? null,
    heartbeat_at: String(r.heartbeat_at),
    resumed_from: r.resumed_from === null || r.resumed_from === undefined ? null : count('resumed_from'),
    cursor: (r.cursor as string | null) ?? null,
    queued: count('queued'),
    scanned: count('scanned'),
    missing: count('missing'),
    stale: count('stale'),
    orphaned: count('orphaned'),
    created: count('created'),
    updated: count('updated'),
    deleted: count('deleted'),
    failed: count('failed'),
    error: (r.error as string | null) ?? null,
  };
}

/** Whether nothing is left to repair: no drift and no recorded failures. */
export const inSync = (s: Pick<ReconcileStatus, 'missing' | 'stale' | 'orphaned' | 'failures'>): boolean =>
  s.missing === 0 && s.stale === 0 && s.orphaned === 0 && s.failures === 0;
