/**
 * 10,000 users with all three drift classes: a dry run reports the exact counts and samples and
 * writes nothing; the real run repairs everything through the core; status then shows 100 %.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches, syncTables } from '../helpers/profiles.ts';
import { driftScenario, failuresTable } from './scenario.ts';

const admin = { apikey: DEV_SECRET_KEY };

Deno.test('reconcile: dry run counts exactly and writes nothing; the real run repairs all drift', async () => {
  const db = await freshDatabase('reconcile_scenario');
  try {
    const s = await driftScenario(db.sql, {
      total: 10_000, neverSynced: 1000, appDeleted: 100, renamed: 300, preexisting: 100, authDeleted: 200,
    });
    assert.deepEqual(s.expected, { missing: 1100, stale: 400, orphaned: 200 });
    const { call } = inProcess('reconcile', db);

    const before = await call({ method: 'GET', headers: admin });
    assert.equal(before.status, 200);
    assert.deepEqual(
      [before.json.auth_users, before.json.profiles, before.json.missing, before.json.stale, before.json.orphaned],
      [9800, 8900, 1100, 400, 200],
    );
    assert.equal(before.json.synced_percent, Math.round(10000 * (9800 - 1500) / 9800) / 100);

    const tables = await syncTables(db.sql);
    const failures = await failuresTable(db.sql);
    const dry = await call({ headers: admin, body: { dry_run: true } });
    assert.equal(dry.status, 200);
    const { samples, run_id, duration_ms, changes, kept, ...counts } = dry.json as Record<string, unknown>;
    assert.deepEqual(counts, {
      dry_run: true, missing: 1100, stale: 400, orphaned: 200,
      created: 0, updated: 0, deleted: 0, failed: 0, complete: true,
    });
    assert.equal(run_id, null, 'a dry run writes no run');
    assert.equal(typeof changes, 'object');
    assert.equal(typeof kept, 'number');
    assert.equal(typeof duration_ms, 'number');
    const sampled = samples as Record<'missing' | 'stale' | 'orphaned', string[]>;
    for (const cls of ['missing', 'stale', 'orphaned'] as const) {
      assert.deepEqual(sampled[cls], s[cls].slice(0, 20), `the first 20 ${cls} ids in key order`);
    }
    assert.deepEqual(await syncTables(db.sql), tables, 'a dry run changes no profile and no bookkeeping');
    assert.deepEqual(await failuresTable(db.sql), failures);

    const real = await call({ headers: admin, body: {} });
    assert.equal(real.status, 200);
    assert.deepEqual(
      Object.fromEntries(['dry_run', 'missing', 'stale', 'orphaned', 'created', 'deleted', 'failed', 'complete']
        .map((k) => [k, real.json[k]])),
      { dry_run: false, missing: 1100, stale: 400, orphaned: 200, created: 1100, deleted: 200, failed: 0, complete: true },
    );
    // renamed users change; profiles that predate the project only gain their bookkeeping
    assert.equal(real.json.updated, 300);
    assert.deepEqual(await profileMismatches(db.sql), []);
    const [{ leftover }] = await db.sql`
      select count(*)::int as leftover from profile_sync.profile_state s
      where not exists (select 1 from auth.users u where u.id = s.user_id)`;
    assert.equal(leftover, 0, 'bookkeeping of users deleted from auth is gone too');
    // 1,300 of ~9,800 profiles created or deleted: the run analyzed profiles, so the planner
    // need not wait for autovacuum
    const analyzed = await db.sql`
      select relname from pg_stat_all_tables
      where relid in ('public.profiles'::regclass, 'profile_sync.profile_state'::regclass) and last_analyze is not null`;
    assert.deepEqual(analyzed.map((r) => r.relname), ['profiles']);
    const [{ reltuples }] = await db.sql`select reltuples::int from pg_class where oid = 'public.profiles'::regclass`;
    assert.equal(reltuples, 9800, 'analyzing the key alone still counts the rows');

    const after = await call({ method: 'GET', headers: admin });
    assert.deepEqual(
      [after.json.auth_users, after.json.profiles, after.json.missing, after.json.stale, after.json.orphaned,
        after.json.synced_percent, after.json.failures],
      [9800, 9800, 0, 0, 0, 100, 0],
    );
    const lastRun = after.json.last_run as Record<string, unknown>;
    assert.equal(lastRun.id, real.json.run_id);
    assert.equal(lastRun.status, 'complete');

    const again = await call({ headers: admin, body: {} });
    assert.deepEqual(
      [again.json.missing, again.json.stale, again.json.orphaned, again.json.created, again.json.updated, again.json.complete],
      [0, 0, 0, 0, 0, true],
      'a second run finds nothing',
    );
  } finally {
    await db.drop();
  }
});
