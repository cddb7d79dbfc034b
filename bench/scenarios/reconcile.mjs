// Scenarios 1 and 2: reconcile over real HTTP against the raw-SQL limit (everything missing,
// then 1 % stale), the function's peak memory, and the latency of GET /reconcile (status).
import { clearProfiles, settle } from '../lib/cluster.mjs';
import { atLeast, below, done, figure, notAvailable, timed } from '../lib/figures.mjs';
import { NotAvailable } from '../lib/function-process.mjs';
import { rawCreateMissing, rawCreateMissingWithBookkeeping, rawFixStale, syncAllInBatches } from '../lib/limits.mjs';
import { median } from '../lib/load.mjs';

const CORE_BATCH = 2000; // the reconcile default (shared/reconcile-limits.ts RECONCILE_LIMITS)
const RATIO = atLeast(0.8, '≥ 0.8× raw SQL', 'ratio');

/** Status latency: `samples` sequential GETs; returns the median and the worst in ms. */
async function statusLatency(ctx, fn, samples) {
  const times = [];
  let last;
  for (let i = 0; i < samples; i++) {
    const { result, ms } = await timed(() => ctx.http.request(fn.url, { headers: ctx.adminHeaders }));
    if (result.status !== 200) throw new Error(`GET /reconcile answered ${result.status}: ${result.body.slice(0, 200)}`);
    last = JSON.parse(result.body);
    times.push(ms);
  }
  return { p50: median(times), max: Math.max(...times), last };
}

/** POSTs /reconcile with default batches until a report says complete; sums the reports. */
export async function reconcileUntilComplete(ctx, fn) {
  const totals = { calls: 0, created: 0, updated: 0, deleted: 0, failed: 0 };
  const { ms } = await timed(async () => {
    for (;;) {
      const res = await ctx.http.request(fn.url, { method: 'POST', headers: ctx.adminHeaders, body: '{}' });
      if (res.status !== 200) throw new Error(`POST /reconcile answered ${res.status}: ${res.body.slice(0, 300)}`);
      const report = JSON.parse(res.body);
      totals.calls++;
      for (const k of ['created', 'updated', 'deleted', 'failed']) totals[k] += report[k] ?? 0;
      if (report.complete) return;
      if (totals.calls > 100_000) throw new Error('reconcile never reported complete');
    }
  });
  return { ...totals, seconds: ms / 1000 };
}

/** Changes the user metadata of `ids` as Auth would (triggers off: only reconcile may notice). */
async function makeStale(sql, ids, tag) {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`
      update auth.users set
        raw_user_meta_data = raw_user_meta_data || jsonb_build_object('full_name', ${tag} || ' ' || id),
        updated_at = clock_timestamp()
      where id = any(${ids}::uuid[])`;
  });
}

/** The raw-SQL limit from empty profiles; reconcile measures it before and after the core run. */
async function rawMissingRate(sql, insert = rawCreateMissing) {
  await clearProfiles(sql);
  await settle(sql);
  const { result, ms } = await timed(() => insert(sql));
  await clearProfiles(sql);
  await settle(sql);
  return { rows: result, ms };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function reconcile(ctx) {
  const { sql, users } = ctx;
  const figures = [];

  // The limit, twice (before and after the core run: these machines are noisy), averaged.
  const raw1 = await rawMissingRate(sql);
  // The core alone (SQL batches, no HTTP): what the function can at best approach.
  const core = await timed(() => syncAllInBatches(sql, CORE_BATCH));
  const raw2 = await rawMissingRate(sql);
  const rawMs = (raw1.ms + raw2.ms) / 2;
  const rawRate = raw1.rows / (rawMs / 1000);
  const tenth = Math.max(1, Math.floor(core.result.batchMs.length / 10));
  const firstMs = mean(core.result.batchMs.slice(0, tenth));
  const lastMs = mean(core.result.batchMs.slice(-tenth));
  figures.push(figure('reconcile.core_rate', `Core alone: sync_users in batches of ${CORE_BATCH} over SQL`, core.result.total / (core.ms / 1000), 'rows/s', {
    limit: rawRate,
    note: `${(core.ms / 1000).toFixed(1)} s; raw SQL ${(raw1.ms / 1000).toFixed(1)} / ${(raw2.ms / 1000).toFixed(1)} s; ` +
      `a batch takes ${firstMs.toFixed(0)} ms in the first tenth, ${lastMs.toFixed(0)} ms in the last`,
  }));
  figures.push(figure('reconcile.raw_missing_rate', 'Raw SQL insert of all missing profiles (the limit)', rawRate, 'rows/s'));
  const withBookkeeping = await rawMissingRate(sql, rawCreateMissingWithBookkeeping);
  figures.push(figure('reconcile.raw_bookkeeping_rate', 'Raw SQL insert of profiles and their bookkeeping rows', withBookkeeping.rows / (withBookkeeping.ms / 1000), 'rows/s', {
    limit: rawRate, note: 'the limit for a design that keeps a merge base per user; the core alone against it: ' +
      `${((core.result.total / (core.ms / 1000)) / (withBookkeeping.rows / (withBookkeeping.ms / 1000))).toFixed(2)}×`,
  }));

  let fn;
  try {
    fn = await ctx.startFunction('reconcile', { headers: ctx.adminHeaders });
  } catch (err) {
    if (!(err instanceof NotAvailable)) throw err;
    // The scenarios that follow want every profile in place, with its bookkeeping.
    await syncAllInBatches(sql, CORE_BATCH);
    return notAvailable(err.message, figures);
  }
  try {
    const samples = ctx.smoke ? 2 : 5;
    const statusMissing = await statusLatency(ctx, fn, samples);

    const run = await reconcileUntilComplete(ctx, fn);
    const [{ profiles }] = await sql`select count(*)::int as profiles from public.profiles`;
    if (profiles !== users) throw new Error(`reconcile left ${users - profiles} of ${users} profiles missing`);
    const rate = run.created / run.seconds;
    figures.push(figure('reconcile.missing_rate', 'Reconcile, all profiles missing (HTTP, default batches)', rate, 'rows/s', {
      limit: rawRate, target: RATIO, note: `${run.calls} call(s), ${run.seconds.toFixed(1)} s; raw SQL ${(rawMs / 1000).toFixed(1)} s`,
    }));
    await settle(sql);
    const statusSynced = await statusLatency(ctx, fn, samples);
    const statusWorst = Math.max(statusMissing.max, statusSynced.max);
    figures.push(figure('reconcile.status_ms', 'GET /reconcile status latency (worst of all-missing and synced)', statusWorst, 'ms', {
      target: below(1000, '< 1 s at 1M'),
      note: `median ${statusMissing.p50.toFixed(0)} ms all missing, ${statusSynced.p50.toFixed(0)} ms synced`,
    }));

    // 1 % stale: the function finds and fixes them; then the same drift again for the raw limit.
    const stale = Math.max(1, Math.round(users / 100));
    const ids = (await sql`select id from auth.users order by md5(id::text) limit ${stale}`).map((r) => r.id);
    await makeStale(sql, ids, 'Renamed');
    await settle(sql);
    const staleRun = await reconcileUntilComplete(ctx, fn);
    if (staleRun.updated !== stale) throw new Error(`stale reconcile updated ${staleRun.updated}, expected ${stale}`);
    await makeStale(sql, ids, 'Renamed again');
    await settle(sql);
    const rawStale = await timed(() => rawFixStale(sql));
    // The raw update left those users' bookkeeping behind their auth rows: sync them, so later
    // scenarios (and their status calls) find the project in sync.
    await sql`select count(*) from profile_sync.sync_users(${ids}::uuid[])`;
    figures.push(figure('reconcile.stale_rate', 'Reconcile, 1 % stale (find + fix, per stale row)', stale / staleRun.seconds, 'rows/s', {
      limit: rawStale.result / (rawStale.ms / 1000), target: RATIO,
      note: `${stale} stale of ${users}: ${(staleRun.seconds * 1000).toFixed(0)} ms vs raw ${rawStale.ms.toFixed(0)} ms`,
    }));
    const mem = fn.memory();
    figures.push(figure('reconcile.peak_rss', 'Reconcile function peak RSS', mem.peakMiB, 'MiB', { target: below(150, '< 150 MB at 1M') }));
    return done(figures, { run, staleRun, statusMissing, statusSynced, raw: [raw1, raw2], coreBatchMs: { firstTenth: firstMs, lastTenth: lastMs, batches: core.result.batchMs.length } });
  } finally {
    await fn.stop();
  }
}
