/**
 * Reconcile's page pipeline, shared by the reconcile function and the CLI: a dry run, or a real
 * run that walks the drifted ids page by page over the SQL API (reconcile_begin / _page /
 * _sync_page / _advance / _finish). The database does the work; this module holds one page's
 * counts at a time, so memory stays flat and CPU low whatever the number of users.
 * Limits: reconcile-limits.ts; connections: reconcile-connections.ts; shapes: reconcile-types.ts.
 * @module
 */
import type { Sql } from './db.ts';
import { retryConflicts, withDb } from './db.ts';
import { AppError } from './errors.ts';
import type { Database } from './database.types.ts';
import { RECONCILE_LIMITS } from './reconcile-limits.ts';
import { connectionLost, createLimiter, openRunSession } from './reconcile-connections.ts';
import type { ReconcileDb } from './reconcile-connections.ts';
import { num } from './reconcile-types.ts';
import type { ColumnChanges, DriftSamples, ReconcileOptions, ReconcileReport } from './reconcile-types.ts';

type Fns = Database['profile_sync']['Functions'];
type BeginRow = Fns['reconcile_begin']['Returns'][number];
type PageRow = Fns['reconcile_page']['Returns'][number];
/** reconcile_sync_page's OUT parameters (the generated types see only a record). */
type SyncRow = { created: number; updated: number; deleted: number; unchanged: number; failed: number };
type RetryRow = Fns['reconcile_retry_failures']['Returns'][number];
type DryRunRow = Fns['reconcile_dry_run']['Returns'][number];

const LOCK_BUSY = '55P03';

/**
 * Runs a reconcile: a dry run (exact counts and samples, nothing repaired), or a real run that
 * walks the drifted ids found when its pass began, in key order, batch by batch until the walk
 * ends (complete) or the time budget is spent (complete: false; the next call resumes from the
 * cursor). A concurrent real run →
 * AppError('reconcile_in_progress'), a concurrent dry run → AppError('dry_run_in_progress'); a database outage → AppError('database_unavailable').
 */
export function reconcile(db: ReconcileDb, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  return withDb(() => (options.dryRun ? dryRun(db.sql) : realRun(db, options)));
}

/**
 * One dry run at a time per database: each reads every user, so concurrent ones would only
 * multiply that work. The lock is (reconcile_lock_key(), DRY_RUN_LOCK), transaction-level, held
 * by the dry run's own connection; a second caller gets 409 dry_run_in_progress with Retry-After.
 */
const DRY_RUN_LOCK = 401;
export const DRY_RUN_RETRY_AFTER_S = 5;

async function dryRun(sql: Sql): Promise<ReconcileReport> {
  const started = performance.now();
  const row = await sql.begin(async (tx) => {
    const [{ locked }] = await tx<{ locked: boolean }[]>`
      select pg_catalog.pg_try_advisory_xact_lock(profile_sync.reconcile_lock_key(), ${DRY_RUN_LOCK}) as locked`;
    if (!locked) {
      throw new AppError('dry_run_in_progress', { headers: { 'Retry-After': String(DRY_RUN_RETRY_AFTER_S) } });
    }
    const [found] = await tx<DryRunRow[]>`
      select missing, stale, orphaned, samples, changes, kept
      from profile_sync.reconcile_dry_run(${RECONCILE_LIMITS.samplesPerClass})`;
    return found;
  });
  return {
    run_id: null,
    dry_run: true,
    missing: num(row.missing),
    stale: num(row.stale),
    orphaned: num(row.orphaned),
    created: 0,
    updated: 0,
    deleted: 0,
    failed: 0,
    complete: true,
    duration_ms: Math.round(performance.now() - started),
    samples: row.samples as DriftSamples,
    changes: row.changes as Record<string, ColumnChanges>,
    kept: num(row.kept),
  };
}

async function realRun(db: ReconcileDb, options: ReconcileOptions): Promise<ReconcileReport> {
  const started = performance.now();
  const batchSize = options.batchSize ?? RECONCILE_LIMITS.batchSize.default;
  const budget = options.timeBudgetMs ?? RECONCILE_LIMITS.timeBudgetMs.default;

  // The session holds the lock and hands out pages; pages are synced on the pool, a few at once.
  const session = openRunSession(db.dbUrl);
  const conn = session.sql;
  const onPool = createLimiter(RECONCILE_LIMITS.parallel);
  let runId: number | undefined;
  try {
    // a server's idle_session_timeout must not close the session either (openRunSession)
    await conn`select pg_catalog.set_config('idle_session_timeout', '0', false)`;
    const [begun] = await conn<BeginRow[]>`
      select run_id, remaining from profile_sync.reconcile_begin(${batchSize})`.catch((err) => {
      if ((err as { code?: string }).code === LOCK_BUSY) throw new AppError('reconcile_in_progress', { cause: err });
      throw err;
    });
    const run = num(begun.run_id);
    runId = run;
    const report: ReconcileReport = {
      run_id: runId, dry_run: false, missing: 0, stale: 0, orphaned: 0,
      created: 0, updated: 0, deleted: 0, failed: 0, complete: false, duration_ms: 0,
    };

    // Users that failed before are retried first, so "later runs retry" holds even mid-walk.
    const [retry] = await retryConflicts(() =>
      conn<RetryRow[]>`
        select created, updated, deleted, failed
        from profile_sync.reconcile_retry_failures(${run}, ${batchSize})`
    );
    addOutcomes(report, retry);

    // The lock holder hands out pages in key order, as bounds (no ids pass through here, so
    // memory stays flat at any size); the pool syncs them (a page of consecutive ids locks few
    // key ranges, so they rarely wait for each other); each page is recorded, in order, once it
    // and those before it are synced.
    const total = num(begun.remaining);
    let scanned = 0;
    let after: string | null = null;
    let walked = false;
    const inFlight: Promise<Settled>[] = [];
    const record = async (settled: Settled) => {
      if (!settled.ok) throw settled.error;
      const { page, synced } = settled;
      // the page's counts are recorded in SQL (reconcile_pages); advancing folds them into the run
      // (and removes its orphans' bookkeeping, which a sync of the same users may hold: retried)
      await retryConflicts(() => conn`select profile_sync.reconcile_advance(${run}, ${page.last_id})`);
      report.missing += num(page.missing);
      report.stale += num(page.stale);
      report.orphaned += num(page.orphaned);
      addOutcomes(report, synced);
      scanned += num(page.scanned);
      const done = walked && inFlight.length === 0;
      options.onProgress?.({ scanned, total, fraction: done ? 1 : Math.min(scanned / Math.max(total, 1), 1), done });
    };
    try {
      // at least one page per call, however small the budget, so successive calls always progress
      for (let first = true; !walked && (first || performance.now() - started < budget); first = false) {
        const [page]: PageRow[] = await conn<PageRow[]>`
          select from_id, last_id, scanned, missing, stale, orphaned, done
          from profile_sync.reconcile_page(${run}, ${after}, ${batchSize})`;
        walked = page.done;
        if (num(page.scanned) === 0) break;
        after = page.last_id;
        // a page that loses a deadlock to Auth or a webhook is synced again, not the run failed
        inFlight.push(settle(onPool(() =>
          retryConflicts(async () => {
            const [synced] = await db.sql<SyncRow[]>`
              select created, updated, deleted, unchanged, failed
              from profile_sync.reconcile_sync_page(${run}, ${page.from_id}, ${page.last_id})`;
            return { page, synced };
          })
        )));
        if (inFlight.length >= RECONCILE_LIMITS.pagesInFlight) await record(await inFlight.shift()!);
      }
      while (inFlight.length > 0) await record(await inFlight.shift()!);
    } finally {
      await Promise.all(inFlight); // settled promises: nothing left running when the run ends
    }
    report.complete = walked;
    if (walked && scanned === 0) options.onProgress?.({ scanned, total, fraction: 1, done: true });

    await conn`select profile_sync.reconcile_finish(${runId}, ${report.complete ? 'complete' : 'partial'})`;
    runId = undefined;
    report.duration_ms = Math.round(performance.now() - started);
    return report;
  } catch (err) {
    // A connection that is gone took the lock with it: the next run sees this one as dead. One
    // that closed while idle failed the call after it, made on a new session: the same outage.
    if (runId !== undefined && !connectionLost(err) && session.closed()) {
      throw Object.assign(new Error('the reconcile session closed during the run', { cause: err }), { code: 'CONNECTION_CLOSED' });
    }
    if (runId !== undefined && !connectionLost(err)) {
      await conn`select profile_sync.reconcile_finish(${runId}, 'failed', ${errorText(err)})`.catch(() => {});
    }
    throw err;
  } finally {
    await conn.end({ timeout: 1 });
  }
}

type Settled = { ok: true; page: PageRow; synced: SyncRow } | { ok: false; error: unknown };

/** A promise that never rejects: its outcome is read in order, after others may have failed. */
function settle(work: Promise<{ page: PageRow; synced: SyncRow }>): Promise<Settled> {
  return work.then((v) => ({ ok: true as const, ...v }), (error) => ({ ok: false as const, error }));
}

function addOutcomes(report: ReconcileReport, row: Pick<RetryRow, 'created' | 'updated' | 'deleted' | 'failed'>) {
  report.created += num(row.created);
  report.updated += num(row.updated);
  report.deleted += num(row.deleted);
  report.failed += num(row.failed);
}

/** What the run log keeps of an error: its SQLSTATE or name, never a stack or parameters. */
function errorText(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'error';
  return `${code}: ${typeof e?.message === 'string' ? e.message.slice(0, 300) : 'unknown error'}`;
}
