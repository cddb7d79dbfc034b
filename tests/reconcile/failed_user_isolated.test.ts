/**
 * One user whose sync raises (here: a trigger the app put on profiles) cannot block the others:
 * the batch is retried user by user, the bad user is recorded in profile_sync.failures, every
 * other user is repaired; later runs retry it, and a success clears the failure.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';

const admin = { apikey: DEV_SECRET_KEY };

Deno.test('reconcile: a failing user is isolated, recorded, retried by later runs and cleared on success', async () => {
  const db = await freshDatabase('reconcile_failures');
  try {
    const ids = await insertAuthUsers(db.sql, 1200, 'failing');
    const bad = ids[700];
    await db.sql.unsafe(`
      create function public.refuse_one_profile() returns trigger language plpgsql as $$
      begin
        if new.id = '${bad}' then raise exception 'the app refuses this profile' using errcode = 'P0001'; end if;
        return new;
      end $$;
      create trigger refuse_one_profile before insert on public.profiles
        for each row execute function public.refuse_one_profile();`);
    const { call } = inProcess('reconcile', db);

    const first = await call({ headers: admin, body: { batch_size: 500 } });
    assert.equal(first.status, 200);
    assert.deepEqual([first.json.created, first.json.failed, first.json.complete], [1199, 1, true]);
    const [failure] = await db.sql`select * from profile_sync.failures`;
    assert.deepEqual(
      [failure.user_id, failure.source, failure.error_code, failure.error_message, failure.attempts],
      [bad, 'reconcile', 'P0001', 'the app refuses this profile', 1],
    );
    assert.deepEqual(await profileMismatches(db.sql), [{ id: bad, problem: 'missing' }]);
    const status = await call({ method: 'GET', headers: admin });
    assert.deepEqual([status.json.missing, status.json.failures], [1, 1]);

    // the next run retries it once (the retry step), not a second time in its walk
    const second = await call({ headers: admin, body: { batch_size: 500 } });
    assert.deepEqual([second.json.created, second.json.failed, second.json.missing], [0, 1, 1]);
    const [again] = await db.sql`select attempts, first_seen, last_seen from profile_sync.failures`;
    assert.equal(again.attempts, 2);
    assert.ok(again.last_seen > again.first_seen);

    await db.sql`drop trigger refuse_one_profile on public.profiles`;
    const third = await call({ headers: admin, body: { batch_size: 500 } });
    assert.deepEqual([third.json.created, third.json.failed], [1, 0]);
    assert.equal((await db.sql`select count(*)::int as n from profile_sync.failures`)[0].n, 0);
    assert.deepEqual(await profileMismatches(db.sql), []);
  } finally {
    await db.drop();
  }
});
