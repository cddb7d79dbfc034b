/**
 * The CLI's status, reconcile and sync commands: the same operations as the reconcile and
 * sync-profile functions, over a direct database connection, with JSON and human output.
 * @module
 */
import type { Sql } from '../shared/db.ts';
import { reconcile } from '../shared/reconcile.ts';
import { inSync, reconcileStatus } from '../shared/reconcile-status.ts';
import type { ColumnChanges, ReconcileReport } from '../shared/reconcile-types.ts';
import { getProfile, syncUser } from '../shared/sync.ts';
import { isUuid } from '../shared/uuid.ts';
import { count, statusTable, table } from './output.ts';
import { startProgressBar } from './progress.ts';

export const EXIT = { inSync: 0, drift: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type CommandContext = {
  sql: Sql;
  dbUrl: string;
  /** Show a progress bar (stderr is a terminal and --json was not given). */
  interactive: boolean;
  /** The folder the CLI runs in (doctor reads a project's profile-sync lock file there). */
  cwd?: string;
};

export type CommandResult = { exitCode: ExitCode; json: unknown; text: string };

/** A mistake in how the CLI was called or configured: exit 2 with a message saying what to fix. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type ReconcileArgs = { dryRun: boolean; batchSize?: number };

export async function statusCommand(ctx: CommandContext): Promise<CommandResult> {
  const status = await reconcileStatus(ctx.sql);
  return { exitCode: inSync(status) ? EXIT.inSync : EXIT.drift, json: status, text: statusTable(status) };
}

/**
 * Runs a reconcile to the end (no time budget here). Exit 0 when nothing is left to repair
 * afterwards (for a dry run: when nothing has drifted), 1 otherwise.
 */
export async function reconcileCommand(ctx: CommandContext, args: ReconcileArgs): Promise<CommandResult> {
  const bar = ctx.interactive && !args.dryRun ? startProgressBar() : undefined;
  let report: ReconcileReport;
  try {
    report = await reconcile(ctx, {
      dryRun: args.dryRun,
      batchSize: args.batchSize,
      timeBudgetMs: Number.POSITIVE_INFINITY,
      onProgress: bar?.update,
    });
  } finally {
    bar?.stop();
  }
  const drift: [string, string][] = [
    ['missing', count(report.missing)],
    ['stale', count(report.stale)],
    ['orphaned', count(report.orphaned)],
  ];
  if (report.dry_run) {
    const samples = report.samples ?? { missing: [], stale: [], orphaned: [] };
    const sampleRows = Object.entries(samples).flatMap(([k, ids]) => ids.length ? [[`${k} e.g.`, ids.join(' ')]] : []);
    const drifted = report.missing + report.stale + report.orphaned > 0;
    return {
      exitCode: drifted ? EXIT.drift : EXIT.inSync,
      json: report,
      text: `dry run (nothing written)\n${table([...drift, ...sampleRows])}${preservationReport(report)}`,
    };
  }
  const after = await reconcileStatus(ctx.sql);
  const remaining = { missing: after.missing, stale: after.stale, orphaned: after.orphaned, failures: after.failures };
  const clean = report.complete && report.failed === 0 && inSync(after);
  const rows: [string, string][] = [
    ...drift.map(([k, v]): [string, string] => [`found ${k}`, v]),
    ['created', count(report.created)],
    ['updated', count(report.updated)],
    ['deleted', count(report.deleted)],
    ['failed', count(report.failed)],
    ['remaining', `${count(after.missing)} missing, ${count(after.stale)} stale, ${count(after.orphaned)} orphaned, ${count(after.failures)} failures`],
    ['took', `${count(report.duration_ms)} ms`],
  ];
  const hint = report.failed > 0 || after.failures > 0
    ? '\nsome users could not be synced: see `profile-sync doctor` and the table profile_sync.failures'
    : '';
  return {
    exitCode: clean ? EXIT.inSync : EXIT.drift,
    json: { ...report, remaining },
    text: `reconcile run #${report.run_id} ${report.complete ? 'complete' : 'incomplete'}\n${table(rows)}${hint}`,
  };
}

const shown = (v: unknown) => {
  const text = v === null || v === undefined ? '∅' : typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

/**
 * The dry run's preservation report as a table a team reads before adopting its table: per
 * column, how many existing rows would change, an example, and how many app-edited values stay.
 */
export function preservationReport(report: ReconcileReport): string {
  const changes = Object.entries(report.changes ?? {}) as [string, ColumnChanges][];
  if (changes.length === 0) return '\nexisting rows: nothing would change';
  const rows: [string, string][] = changes
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([column, c]) => {
      const example = c.samples[0] ? `  e.g. ${shown(c.samples[0].from)} → ${shown(c.samples[0].to)}` : '';
      const kept = c.kept > 0 ? `, ${count(c.kept)} app edits kept` : '';
      return [column, `${count(c.rows)} rows would change${kept}${example}`];
    });
  return `\nexisting rows, per column (app-edited values are kept: ${count(report.kept ?? 0)})\n${table(rows)}`;
}

/** Syncs one user; exit 1 when no auth user or profile has this id, or the table refused the row. */
export async function syncCommand(ctx: CommandContext, userId: string | undefined): Promise<CommandResult> {
  if (!userId) throw new UsageError('sync needs a user id: profile-sync sync <user-id>');
  if (!isUuid(userId)) throw new UsageError(`"${userId}" is not a user id (a uuid such as 4f7d…-…)`);
  // a success clears the user's failure row; a refused row is recorded (sync_isolated)
  const result = await syncUser(ctx.sql, userId, 'cli');
  const profile = (await getProfile(ctx.sql, userId)) ?? null;
  const found = result.outcome !== 'not_found';
  if (result.outcome === 'failed') {
    const [failure] = await ctx.sql<{ error_code: string; constraint_name: string | null; error_message: string | null }[]>`
      select error_code, constraint_name, error_message from profile_sync.failures where user_id = ${userId}`;
    return {
      exitCode: EXIT.drift,
      json: { user_id: userId, outcome: result.outcome, profile, failure: failure ?? null },
      text: `the profile table refused user ${userId}'s row: ${failure?.error_message ?? 'see profile_sync.failures'}` +
        (failure?.constraint_name ? ` (constraint ${failure.constraint_name})` : '') +
        '\nfix the value in auth (or the constraint), then sync again; reconcile retries it too',
    };
  }
  return {
    exitCode: found ? EXIT.inSync : EXIT.drift,
    json: { user_id: userId, outcome: result.outcome, profile },
    text: found
      ? table([['user', userId], ['outcome', result.outcome], ['profile', profile ? 'present' : 'none (user deleted)']])
      : `no auth user and no profile has id ${userId}: nothing to sync`,
  };
}
