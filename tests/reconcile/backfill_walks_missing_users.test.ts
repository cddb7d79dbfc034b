/**
 * A first backfill (most users without a profile) does not queue the missing users: the pass
 * walks auth.users in key order (profile_sync.reconcile_walked), while stale and orphaned profiles are still
 * queued when it begins. Walked and queued users share the pages: every user is repaired exactly
 * once, a run cut short by its time budget resumes the walk, and a user who gained a profile after
 * the pass began is left as it is.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import postgres from 'postgres';
import { adminDatabaseUrl, freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';

// Walking starts where drift is everywhere: more missing users than the per-range pass reads
// (profile_sync.drift_scope: 60,000 rows by default, lowered here with the setting
// profile_sync.range_rows_limit so that a few thousand users do).
const USERS = 7_000;
const RANGE_ROWS_LIMIT = 3_000;

Deno.test('reconcile: a backfill walks the missing users and queues the stale and orphaned', async () => {
  const db = await freshDatabase('reconcile_walk');
  const admin = postgres(adminDatabaseUrl(db.name), { max: 1, onnotice: () => {} });
  await admin.unsafe(`alter database "${db.name}" set profile_sync.range_rows_limit = ${RANGE_ROWS_LIMIT}`);
  await admin.end();
  try {
    // users that predate the project (no trigger ran), 1,000 of them already synced
    await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await insertAuthUsers(tx, USERS, 'walk');
    });
    const synced = (await db.sql`select id from auth.users order by email limit 1000`).map((r) =>
      r.id as string
    );
    await db.sql`select count(*) from profile_sync.sync_users(${synced}::uuid[])`;
    // drift of the other two kinds: 20 renamed (stale); one deleted behind the cascade's back (orphaned)
    await renameAuthUsers(db.sql, synced.slice(0, 20), 'renamed');
    await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`delete from auth.users where id = ${synced[999]}`;
    });

    const { call } = inProcess('reconcile', db);
    const admin = { apikey: DEV_SECRET_KEY };
    const first = await call({ headers: admin, body: { time_budget_ms: 1 } });
    assert.equal(first.status, 200);
    assert.equal(first.json.complete, false, 'a 1 ms budget does one page');
    const [begun] = await db.sql`select walks_missing, queued from profile_sync.runs order by id limit 1`;
    assert.equal(begun.walks_missing, true, 'the missing users are walked');
    assert.equal(
      Number(begun.queued),
      USERS - 1000 + 21,
      'walked users counted as the pass began, with the 21 queued',
    );
    const [{ queue }] = await db.sql`select count(*)::int as queue from profile_sync.reconcile_queue`;
    assert.equal(queue, 21, 'only the stale and the orphaned are queued');

    // a user the walk has not reached yet gains a profile meanwhile (a webhook got there first)
    const [ahead] = await db.sql`
      select u.id from auth.users u
      where u.id > (select cursor from profile_sync.runs order by id limit 1)
        and not exists (select 1 from public.profiles p where p.id = u.id)
      order by u.id desc limit 1`;
    await db.sql`select count(*) from profile_sync.sync_users(${[ahead.id]}::uuid[])`;

    const second = await call({ headers: admin, body: {} });
    assert.equal(second.status, 200);
    assert.equal(second.json.complete, true);
    const [resumed] = await db
      .sql`select walks_missing, resumed_from from profile_sync.runs order by id desc limit 1`;
    assert.equal(resumed.walks_missing, true, 'the resumed run walks as the one it resumes');
    assert.notEqual(resumed.resumed_from, null);

    const total = (k: string) => (first.json[k] as number) + (second.json[k] as number);
    assert.equal(
      total('created'),
      USERS - 1000 - 1,
      'every missing user created once; not the one synced meanwhile',
    );
    assert.equal(total('missing'), USERS - 1000 - 1);
    assert.deepEqual(
      [total('stale'), total('updated'), total('orphaned'), total('deleted'), total('failed')],
      [20, 20, 1, 1, 0],
    );
    assert.deepEqual(await profileMismatches(db.sql), []);

    const status = await call({ method: 'GET', headers: admin });
    assert.deepEqual([status.json.missing, status.json.stale, status.json.orphaned], [0, 0, 0]);
  } finally {
    await db.drop();
  }
});
