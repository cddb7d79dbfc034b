/**
 * The reconcile lock is per database: with two databases of one cluster running profile-sync, a
 * reconcile holding the lock in one is not seen as the holder in the other, and each begins and
 * finishes its own run (finish empties its queue and unlocks).
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

Deno.test('two databases on one cluster: each has its own reconcile lock', async () => {
  const a = await freshDatabase('lock_a');
  const b = await freshDatabase('lock_b');
  const sessionA = postgres(a.url, { max: 1, prepare: false, onnotice: () => {} });
  const sessionB = postgres(b.url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    await insertAuthUser(b.sql);
    const [runA] = await sessionA`select run_id from profile_sync.reconcile_begin(100)`;
    const [{ pid: pidA }] = await sessionA`select pg_backend_pid() as pid`;
    assert.equal((await a.sql`select profile_sync.reconcile_lock_holder() as pid`)[0].pid, pidA);
    assert.equal((await b.sql`select profile_sync.reconcile_lock_holder() as pid`)[0].pid, null,
      'database b does not see database a\'s lock');

    const [runB] = await sessionB`select run_id, remaining from profile_sync.reconcile_begin(100)`;
    assert.equal(Number(runB.remaining), 1);
    await sessionB`select profile_sync.reconcile_finish(${runB.run_id}, 'complete')`;
    assert.equal((await b.sql`select count(*)::int as n from profile_sync.reconcile_queue`)[0].n, 0, 'finish emptied b\'s queue');
    assert.equal((await b.sql`select profile_sync.reconcile_lock_holder() as pid`)[0].pid, null, 'and unlocked');
    assert.equal((await a.sql`select profile_sync.reconcile_lock_holder() as pid`)[0].pid, pidA, 'a still holds its own');
    await sessionA`select profile_sync.reconcile_finish(${runA.run_id}, 'complete')`;
  } finally {
    await sessionA.end();
    await sessionB.end();
    await a.drop();
    await b.drop();
  }
});
