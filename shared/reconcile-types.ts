/**
 * The shapes reconcile reports: a run's report, its progress, the status view and a run as the
 * run log keeps it. Shared by the reconcile function, the CLI and doctor.
 * @module
 */

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
  /** The delivery queue (shared/deliveries.ts); null on a database not migrated to it yet. */
  deliveries: { queued: number; oldest_due_age_s: number; retrying: number; dead: number } | null;
};

/** postgres.js returns int8 and numeric as strings; the generated types say number. */
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
