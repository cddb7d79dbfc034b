/**
 * A page whose sync loses a deadlock or a serialization to a concurrent transaction (Auth
 * deleting users, a webhook syncing the same ones) is synced again, so the run completes instead
 * of answering 503; a conflict that never clears still ends in 503 database_unavailable, with the
 * run marked failed. (Here the app's own trigger raises the SQLSTATE a real deadlock has.)
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';

const admin = { apikey: DEV_SECRET_KEY };

/** A trigger on profiles that raises `code` on the first `times` rows it sees (a sequence counts: it outlives rollbacks). */
async function conflictOnFirstWrites(sql: Parameters<typeof profileMismatches>[0], code: string, times: number) {
  await sql.unsafe(`
    drop trigger if exists lose_a_conflict on public.profiles;
    drop sequence if exists public.conflicts_seen;
    create sequence public.conflicts_seen;
    grant usage on sequence public.conflicts_seen to public;
    create or replace function public.lose_a_conflict() returns trigger language plpgsql as $$
    begin
      if nextval('public.conflicts_seen') <= ${times} then
        raise exception 'deadlock detected (simulated)' using errcode = '${code}';
      end if;
      return new;
    end $$;
    create trigger lose_a_conflict before insert on public.profiles
      for each row execute function public.lose_a_conflict();`);
}

Deno.test('reconcile: a page that loses a deadlock is synced again; one that always does → 503', async (t) => {
  const db = await freshDatabase('reconcile_conflicts');
  try {
    const { call } = inProcess('reconcile', db);

    await t.step('a deadlock, then a serialization failure: the run completes', async () => {
      await insertAuthUsers(db.sql, 300, 'conflict');
      await conflictOnFirstWrites(db.sql, '40P01', 1);
      const first = await call({ headers: admin, body: { batch_size: 100 } });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.deepEqual([first.json.created, first.json.failed, first.json.complete], [300, 0, true]);

      await insertAuthUsers(db.sql, 50, 'serial');
      await conflictOnFirstWrites(db.sql, '40001', 2);
      const second = await call({ headers: admin, body: { batch_size: 100 } });
      assert.equal(second.status, 200, JSON.stringify(second.json));
      assert.deepEqual([second.json.created, second.json.failed], [50, 0]);
      assert.deepEqual(await profileMismatches(db.sql), []);
      assert.equal((await db.sql`select count(*)::int as n from profile_sync.failures`)[0].n, 0, 'not recorded as failures');
    });

    await t.step('a conflict that never clears: 503, the run failed, nothing recorded as a failure', async () => {
      await insertAuthUsers(db.sql, 20, 'stuck');
      await conflictOnFirstWrites(db.sql, '40P01', 1_000_000);
      const stuck = await call({ headers: admin, body: { batch_size: 100 } });
      assert.equal(stuck.status, 503);
      assert.equal(stuck.json.error?.code, 'database_unavailable');
      const [run] = await db.sql`select status, error from profile_sync.runs order by id desc limit 1`;
      assert.equal(run.status, 'failed');
      assert.match(run.error, /^40P01/);
      assert.equal((await db.sql`select count(*)::int as n from profile_sync.failures`)[0].n, 0);
      assert.equal((await db.sql`select nextval('public.conflicts_seen')::int as n`)[0].n, 5, 'tried 4 times');
    });
  } finally {
    await db.drop();
  }
});
