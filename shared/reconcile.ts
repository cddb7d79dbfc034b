/**
 * Reconcile and its status, over the SQL API in supabase/schemas/70_reconcile.sql: the batch loop shared by
 * the reconcile function and the CLI. The database does the work; this module holds one batch's
 * counts at a time, so memory stays flat and CPU low whatever the number of users.
 * @module
 */
import type { Sql } from './db.ts';
import { createDb, isDroppedConnection, withDb } from './db.ts';
import { AppError } from './errors.ts';
import type { Database } from './database.types.ts';

type Fns = Database['profile_sync']['Functions'];
type BeginRow = Fns['reconcile_begin']['Returns'][number];
type PageRow = Fns['reconcile_page']['Returns'][number];
/** reconcile_sync_page's OUT parameters (the generated types see only a record). */
type SyncRow = { created: number; updated: number; deleted: number; unchanged: number; failed: number };
type RetryRow = Fns['reconcile_retry_failures']['Returns'][number];
type DryRunRow = Fns['reconcile_dry_run']['Returns'][number];
type StatusRow = Fns['reconcile_status']['Returns'][number];

export const RECONCILE_LIMITS = {
  // 2,000 a batch: a fifth faster than 1,000 per user synced (docs/benchmarks.md), while a batch
  // still holds its per-user locks for only tens of milliseconds.
  batchSize: { default: 2000, min: 1, max: 10_000 },
  /** Connections syncing pages at once (besides the one that holds the lock and hands them out). */
  parallel: 2,
  /**
   * Pages handed out and not yet recorded: twice the connections, so a connection that finishes
   * a page starts the next at once (it waits in the pool) instead of idling while the lock holder
   * records one page and fetches another.
   */
  pagesInFlight: 4,
  timeBudgetMs: { default: 60_000, min: 1, max: 600_000 },
  samplesPerClass: 20,
} as const;

export type ReconcileOptions = {
  dryRun?: boolean;
  batchSize?: number;
  /** Stop starting new batches once this much time has passed (at least one batch always runs). */
  timeBudgetMs?: number;
  /** Called after each batch (for a progress bar). */
  onProgress?: (progress: ReconcileProgress) => void;
};

export type ReconcileProgress = {
  /** Queued ids walked by this call, of `total` left when it began. */
  scanned: number;
  total: number;
  fraction: number;
  done: boolean;
};

export type DriftSamples = { missing: string[]; stale: string[]; orphaned: string[] };

/** Drift found (missing, stale, orphaned) and what was done about it. */
export type RunCounts = {
  missing: number;
  stale: number;
  orphaned: number;
  created: number;
  updated: number;
  deleted: number;
  failed: number;
};

/** Per target column: rows whose value a sync would change, app-edited values kept, samples. */
export type ColumnChanges = { rows: number; kept: number; samples: { user_id: string; from: unknown; to: unknown }[] };

export type ReconcileReport = RunCounts & {
  /** The run's id; null for a dry run, which writes nothing. */
  run_id: number | null;
  dry_run: boolean;
  complete: boolean;
  duration_ms: number;
  samples?: DriftSamples;
  /** Dry run only: the preservation report, per target column. */
  changes?: Record<string, ColumnChanges>;
  /** Dry run only: app-edited values that stay although auth differs. */
  kept?: number;
};

export type RunSummary = RunCounts & {
  id: number;
  status: 'running' | 'complete' | 'partial' | 'failed' | 'abandoned';
  dry_run: boolean;
  started_at: string;
  finished_at: string | null;
  heartbeat_at: string;
  resumed_from: number | null;
  cursor: string | null;
  queued: number;
  scanned: number;
  error: string | null;
};

export type ReconcileStatus = {
  auth_users: number;
  profiles: number;
  missing: number;
  stale: number;
  orphaned: number;
  synced_percent: number;
  failures: number;
  last_run: RunSummary | null;
};

/** postgres.js returns int8 and numeric as strings; the generated types say number. */
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

const LOCK_BUSY = '55P03';

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

const connectionLost = (err: unknown) =>
  isDroppedConnection(err) || /^(08|57P0)/.test(String((err as { code?: unknown } | null)?.code));

/** The pool for short calls, and the URL a real run opens its own session with. */
export type ReconcileDb = { sql: Sql; dbUrl: string };

/**
 * Runs a reconcile: a dry run (exact counts and samples, nothing repaired), or a real run that
 * walks the drifted ids found when its pass began, in key order, batch by batch until the walk
 * ends (complete) or the time budget is spent (complete: false; the next call resumes from the
 * cursor). A concurrent real run →
 * AppError('reconcile_in_progress'); a database outage → AppError('database_unavailable').
 */
export function reconcile(db: ReconcileDb, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  return withDb(() => (options.dryRun ? dryRun(db.sql) : realRun(db.dbUrl, options)));
}

async function dryRun(sql: Sql): Promise<ReconcileReport> {
  const started = performance.now();
  const [row] = await sql<DryRunRow[]>`
    select missing, stale, orphaned, samples, changes, kept
    from profile_sync.reconcile_dry_run(${RECONCILE_LIMITS.samplesPerClass})`;
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

async function realRun(dbUrl: string, options: ReconcileOptions): Promise<ReconcileReport> {
  const started = performance.now();
  const batchSize = options.batchSize ?? RECONCILE_LIMITS.batchSize.default;
  const budget = options.timeBudgetMs ?? RECONCILE_LIMITS.timeBudgetMs.default;

  // The lock belongs to a session, so the run has one connection of its own, closed at the end.
  // (Not a connection reserved from the pool: postgres.js 3.4 puts a reserved connection that the
  // server closed back into the pool as if open, and the next query on it crashes the process.)
  const conn = createDb(sessionUrl(dbUrl), { max: 1, application: 'profile-sync/reconcile' });
  const workers = createDb(dbUrl, { max: RECONCILE_LIMITS.parallel, application: 'profile-sync/reconcile-worker' });
  let runId: number | undefined;
  try {
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
    const [retry] = await conn<RetryRow[]>`
      select created, updated, deleted, failed
      from profile_sync.reconcile_retry_failures(${runId}, ${batchSize})`;
    addOutcomes(report, retry);

    // The lock holder hands out pages in key order, as bounds (no ids pass through here, so
    // memory stays flat at any size); other connections sync them (a page of consecutive ids
    // locks few key ranges, so they rarely wait for each other); each page is recorded, in order,
    // once it and those before it are synced (profile_sync.reconcile_advance).
    const total = num(begun.remaining);
    let scanned = 0;
    let after: string | null = null;
    let walked = false;
    const inFlight: Promise<Settled>[] = [];
    const record = async (settled: Settled) => {
      if (!settled.ok) throw settled.error;
      const { page, synced } = settled;
      await conn`
        select profile_sync.reconcile_advance(${run}, ${page.from_id}, ${page.last_id}, ${page.scanned},
          ${[page.missing, page.stale, page.orphaned]}::integer[],
          ${[synced.created, synced.updated, synced.deleted, synced.unchanged, synced.failed]}::integer[])`;
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
        inFlight.push(settle((async () => {
          const [synced] = await workers<SyncRow[]>`
            select created, updated, deleted, unchanged, failed
            from profile_sync.reconcile_sync_page(${run}, ${page.from_id}, ${page.last_id})`;
          return { page, synced };
        })()));
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
    // A connection that is gone took the lock with it: the next run sees this one as dead.
    if (runId !== undefined && !connectionLost(err)) {
      await conn`select profile_sync.reconcile_finish(${runId}, 'failed', ${errorText(err)})`.catch(() => {});
    }
    throw err;
  } finally {
    await Promise.all([conn.end({ timeout: 1 }), workers.end({ timeout: 1 })]);
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

/** Counts, drift, synced share, failures and the last run; exact, and cheap at a million users. */
export async function reconcileStatus(sql: Sql): Promise<ReconcileStatus> {
  const [row] = await withDb(() =>
    sql<StatusRow[]>`
      select auth_users, profiles, missing, stale, orphaned, synced_percent, failures, last_run
      from profile_sync.reconcile_status()`
  );
  return {
    auth_users: num(row.auth_users),
    profiles: num(row.profiles),
    missing: num(row.missing),
    stale: num(row.stale),
    orphaned: num(row.orphaned),
    synced_percent: num(row.synced_percent),
    failures: num(row.failures),
    last_run: row.last_run ? toRunSummary(row.last_run as Record<string, unknown>) : null,
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
