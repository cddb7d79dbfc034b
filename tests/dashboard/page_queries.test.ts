/**
 * The page's queries stay cheap as history grows: with a year of runs every 10 minutes and 20,000
 * recorded failures, EXPLAIN shows each reading runs and failures through their indexes at a cost
 * far below jit_above_cost (plans, not timings). And history does not grow: a run prunes runs
 * older than settings.history_days.
 */
import assert from 'node:assert/strict';
import { PAGE_PARAMS, PAGE_QUERIES } from '../../cli/dashboard/queries.ts';
import type { QueryName } from '../../cli/dashboard/queries.ts';
import { createDb } from '../../shared/db.ts';
import { reconcile } from '../../shared/reconcile.ts';
import { freshDatabase } from '../helpers/db.ts';

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Total Cost': number; Plans?: PlanNode[] };

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

/** Well under jit_above_cost (100000): no JIT on stock Postgres, and a few ms of work. */
const CHEAP = 2_000;

Deno.test('dashboard: each page query is an index scan and cheap at a year of runs', async () => {
  const db = await freshDatabase('dashboard_plans');
  try {
    await db.sql`
      insert into profile_sync.runs (started_at, finished_at, heartbeat_at, status, missing, created)
      select t, t + interval '2 seconds', t + interval '2 seconds', 'complete', n % 7, n % 7
      from generate_series(1, 365 * 144) as n, lateral (select now() - make_interval(mins => 10 * n)) s (t)`;
    await db.sql`
      insert into profile_sync.failures (user_id, source, error_code, constraint_name, first_seen, last_seen)
      select gen_random_uuid(), 'reconcile', case when n % 5 = 0 then 'P0001' else '23514' end,
        case n % 5 when 0 then null else 'profiles_check_' || n % 5 end,
        now() - make_interval(mins => n), now()
      from generate_series(1, 20000) as n`;
    await db.sql`vacuum analyze profile_sync.runs`;
    await db.sql`vacuum analyze profile_sync.failures`;
    const [{ delivery }] = await db.sql`
      select to_regprocedure('profile_sync.delivery_history(timestamptz)') is not null as delivery`;

    const plans: Record<string, PlanNode[]> = {};
    for (const [name, text] of Object.entries(PAGE_QUERIES) as [QueryName, string][]) {
      if (name === 'deliveryHours' && !delivery) continue;
      const [row] = await db.sql.unsafe(`explain (format json) ${text}`, PAGE_PARAMS[name] as never[]);
      const plan = (row['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan;
      assert.ok(plan['Total Cost'] < CHEAP, `${name} costs ${plan['Total Cost']}:\n${JSON.stringify(plan, null, 1)}`);
      plans[name] = nodes(plan);
    }
    const scans = (name: string, table: string) =>
      plans[name].filter((n) => n['Relation Name'] === table).map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`.trim());

    assert.deepEqual(scans('history', 'runs'), ['Index Scan runs_started_idx']);
    // newest first by id: the partial index of real runs, or the key backwards (dry runs write no row)
    assert.equal(scans('runs', 'runs').length, 1);
    assert.match(scans('runs', 'runs')[0], /^Index Scan (runs_real_idx|runs_pkey)$/);
    // the few ids of each group come from the index (counting the groups reads them all, cheaply)
    assert.ok(scans('failures', 'failures').includes('Index Scan failures_constraint_idx'), scans('failures', 'failures').join(', '));
  } finally {
    await db.drop();
  }
});

Deno.test('dashboard: history is bounded: each run prunes runs older than settings.history_days', async () => {
  const db = await freshDatabase('dashboard_prune');
  const sql = createDb(db.url, { max: 2 });
  try {
    const [{ days }] = await db.sql`select profile_sync.history_days() as days`;
    assert.equal(days, 90);
    await db.sql`
      insert into profile_sync.runs (started_at, finished_at, status)
      select now() - make_interval(days => d), now() - make_interval(days => d), 'complete'
      from unnest(array[100, 89, 40, 20]) as d`;
    const ages = async () =>
      (await db.sql`select extract(day from now() - started_at)::int as d from profile_sync.runs order by 1 desc`).map((r) => r.d);

    await reconcile({ sql, dbUrl: db.url }, { timeBudgetMs: Number.POSITIVE_INFINITY });
    assert.deepEqual(await ages(), [89, 40, 20, 0], 'the default keeps 90 days');

    await db.sql`update profile_sync.settings set history_days = 30`;
    await reconcile({ sql, dbUrl: db.url }, { timeBudgetMs: Number.POSITIVE_INFINITY });
    assert.deepEqual(await ages(), [20, 0, 0]);

    await assert.rejects(db.sql`update profile_sync.settings set history_days = 0`, /settings_history_days_check/);
  } finally {
    await sql.end({ timeout: 1 });
    await db.drop();
  }
});
