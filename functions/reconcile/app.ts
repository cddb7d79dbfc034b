/**
 * reconcile: POST repairs drift batch by batch within a time budget (or counts it, dry run);
 * GET reports status. Admin credential only; no CORS (never called from a browser).
 * @module
 */
import { z } from 'zod';
import type { Context } from 'hono';
import { hasAdminCredential, hasAnyCredential } from '../../shared/admin.ts';
import { AppError } from '../../shared/errors.ts';
import { createFunctionApp, logOutcome, methodNotAllowed, parseJson, readBodyText } from '../../shared/http.ts';
import type { AppEnv } from '../../shared/http.ts';
import { reconcile } from '../../shared/reconcile.ts';
import { createRunGate } from '../../shared/reconcile-connections.ts';
import { BatchSize, HttpTimeBudgetMs, RECONCILE_LIMITS } from '../../shared/reconcile-limits.ts';
import { createStatusReader } from '../../shared/reconcile-status.ts';
import type { ReconcileReport } from '../../shared/reconcile-types.ts';
import type { Deps } from '../../shared/serve.ts';

// strict: a misspelt "dryrun" must not silently start a real run
const ReconcileBody = z.object({
  dry_run: z.boolean().default(false),
  batch_size: BatchSize.default(RECONCILE_LIMITS.batchSize.default),
  time_budget_ms: HttpTimeBudgetMs.default(RECONCILE_LIMITS.timeBudgetMs.default),
}).strict();

/**
 * Only an admin key (SUPABASE_SECRET_KEYS / SUPABASE_SERVICE_ROLE_KEY) passes. No credential →
 * 401 missing_credentials; anything else, a user's access token included → 401 invalid_credentials
 * (this endpoint does not verify user tokens, so it cannot tell a valid one from a forged one).
 */
function requireAdmin(c: Context<AppEnv>, adminKeys: readonly string[]) {
  const headers = c.req.raw.headers;
  if (!hasAnyCredential(headers)) throw new AppError('missing_credentials');
  if (!hasAdminCredential(headers, adminKeys)) throw new AppError('invalid_credentials');
}

function parseBody(text: string) {
  const parsed = ReconcileBody.safeParse(text.trim() === '' ? {} : parseJson(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('invalid_payload', { detail: `${issue.path.join('.') || 'body'}: ${issue.message}` });
  }
  return parsed.data;
}

/**
 * What the log keeps of a report: counts only. A dry run's samples (user ids) and its `changes`
 * (whose from/to hold emails and phone numbers) go to the admin who asked, never to the log.
 */
function reportForLog({ samples: _samples, changes, ...counts }: ReconcileReport) {
  if (!changes) return counts;
  const perColumn = Object.fromEntries(Object.entries(changes).map(([column, c]) => [column, { rows: c.rows, kept: c.kept }]));
  return { ...counts, changes: perColumn };
}

export function createApp(deps: Deps) {
  const { config, sql } = deps;
  const app = createFunctionApp('reconcile', deps.log);
  // One real run per isolate (a second caller gets 409 without a connection); concurrent status
  // calls share one computation.
  const exclusive = createRunGate();
  const status = createStatusReader(sql);

  app.post('/', async (c) => {
    requireAdmin(c, config.adminKeys);
    const body = parseBody(await readBodyText(c, config.maxBodyBytes));
    const run = () =>
      reconcile({ sql, dbUrl: config.dbUrl }, {
        dryRun: body.dry_run,
        batchSize: body.batch_size,
        timeBudgetMs: body.time_budget_ms,
      });
    const report = body.dry_run ? await run() : await exclusive(run);
    logOutcome(c, 'reconcile', reportForLog(report));
    return c.json(report);
  });

  app.get('/', async (c) => {
    requireAdmin(c, config.adminKeys);
    return c.json(await status());
  });

  app.all('/', methodNotAllowed(['GET', 'POST']));
  return app;
}
