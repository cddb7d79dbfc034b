/**
 * A database for the dashboard's tests: drift of every class, users the table refuses under two
 * constraints (recorded by a real reconcile run), and 40 days of earlier runs every 8 hours.
 * @module
 */
import { createDb } from '../../shared/db.ts';
import { reconcile } from '../../shared/reconcile.ts';
import type { TestDb } from '../helpers/db.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { driftScenario } from '../reconcile/scenario.ts';

export const REFUSED = { profiles_no_refused: 7, profiles_no_rejected: 3 } as const;

/** Runs every 8 hours from 40 days ago to a day ago, with made-up counts that vary. */
export async function insertPastRuns(db: TestDb, days = 40, everyHours = 8): Promise<void> {
  await db.sql`
    insert into profile_sync.runs (started_at, finished_at, heartbeat_at, status, batch_size, queued, scanned,
      missing, stale, orphaned, created, updated, deleted, unchanged, failed)
    select t, t + make_interval(secs => 1 + n % 7), t + make_interval(secs => 1 + n % 7),
      case when n % 17 = 0 then 'partial' else 'complete' end, 1000, 10 + n % 30, 10 + n % 30,
      n % 11, n % 5, n % 3, n % 11, n % 5, n % 3, 0, case when n % 13 = 0 then 1 else 0 end
    from generate_series(1, ${days * 24 / everyHours}::int) as n,
      lateral (select now() - make_interval(days => ${days}) + make_interval(hours => n * ${everyHours}) - interval '1 day' as t) s
    order by t`;
}

export async function seedDashboard(db: TestDb): Promise<void> {
  await insertPastRuns(db);
  await db.sql.unsafe(`
    alter table public.profiles add constraint profiles_no_refused check (full_name not like 'refused-%');
    alter table public.profiles add constraint profiles_no_rejected check (full_name not like 'rejected-%');`);
  await insertAuthUsers(db.sql, REFUSED.profiles_no_refused, 'refused');
  await insertAuthUsers(db.sql, REFUSED.profiles_no_rejected, 'rejected');
  await insertAuthUsers(db.sql, 40, 'fine');
  // a real run, as the owner: creates the fine ones, records the refused ones
  const sql = createDb(db.url, { max: 2 });
  try {
    await reconcile({ sql, dbUrl: db.url }, { timeBudgetMs: Number.POSITIVE_INFINITY });
  } finally {
    await sql.end({ timeout: 1 });
  }
  await driftScenario(db.sql, { total: 300, neverSynced: 30, appDeleted: 5, renamed: 12, preexisting: 3, authDeleted: 4 });
}
