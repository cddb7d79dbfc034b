// Scenario 7: the same reconcile, again and again. Each run inserts 20,000 users the webhook never
// saw (triggers off, as in a bulk import) and reconciles them over HTTP at once, before autovacuum
// has looked at the tables; then Auth deletes them again (dead rows and stale statistics pile up,
// as on a project that imports in batches). A reconcile whose plan depends on how fresh the
// statistics are shows it here as spread: runs of 2.8-6 s and of 42-94 s were once seen for the
// same work. Target: the slowest run within 1.5× the fastest.
import { seedUsers } from '../lib/cluster.mjs';
import { below, done, figure, timed } from '../lib/figures.mjs';
import { median } from '../lib/load.mjs';

const SPREAD = below(1.5, 'slowest ≤ 1.5× fastest');

/** POSTs /reconcile until a report says complete; returns the seconds and what it created. */
async function reconcileOnce(ctx, fn) {
  let created = 0;
  const { ms } = await timed(async () => {
    for (let calls = 0; calls < 1000; calls++) {
      const res = await ctx.http.request(fn.url, { method: 'POST', headers: ctx.adminHeaders, body: '{}' });
      if (res.status !== 200) throw new Error(`POST /reconcile answered ${res.status}: ${res.body.slice(0, 300)}`);
      const report = JSON.parse(res.body);
      created += report.created;
      if (report.complete) return;
    }
    throw new Error('reconcile never reported complete');
  });
  return { seconds: ms / 1000, created };
}

export async function reconcileSpread(ctx) {
  const { sql } = ctx;
  const perRun = ctx.smoke ? 500 : 20_000;
  const runs = ctx.smoke ? 2 : 7;
  const fn = await ctx.startFunction('reconcile', { headers: ctx.adminHeaders });
  try {
    // the project in sync first (the users seeded before this scenario have no profiles yet)
    await reconcileOnce(ctx, fn);
    const seconds = [];
    for (let run = 0; run < runs; run++) {
      const ids = await seedUsers(sql, perRun, { from: ctx.nextUserNumber(perRun), returnIds: true });
      const result = await reconcileOnce(ctx, fn);
      if (result.created !== perRun) throw new Error(`run ${run + 1} created ${result.created} of ${perRun} profiles`);
      seconds.push(result.seconds);
      // Auth deletes them (triggers on: the profiles and bookkeeping go too), nothing vacuumed
      await sql`delete from auth.users where id = any(${ids}::uuid[])`;
    }
    const fastest = Math.min(...seconds);
    const slowest = Math.max(...seconds);
    return done([
      figure('reconcile_spread_fastest', `reconcile of ${perRun.toLocaleString('en-US')} missing users, fastest of ${runs}`, fastest, 's'),
      figure('reconcile_spread_median', 'median', median(seconds), 's'),
      figure('reconcile_spread_slowest', 'slowest', slowest, 's'),
      figure('reconcile_spread_ratio', 'slowest / fastest', slowest / fastest, '×', { target: SPREAD }),
    ], { seconds });
  } finally {
    await fn.stop();
  }
}
