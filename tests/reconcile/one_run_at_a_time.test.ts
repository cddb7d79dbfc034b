/**
 * At most one reconcile at a time: while one runs (its session holds the advisory lock), a second
 * real run is refused with 409 reconcile_in_progress, while a dry run and status still answer.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { waitFor } from '../helpers/wait.ts';

const admin = { apikey: DEV_SECRET_KEY };

Deno.test('reconcile: two concurrent runs → one 409 reconcile_in_progress; dry run and status still answer', async () => {
  const db = await freshDatabase('reconcile_concurrent');
  try {
    await insertAuthUsers(db.sql, 3000, 'concurrent');
    const { call } = inProcess('reconcile', db);
    const first = call({ headers: admin, body: { batch_size: 10, time_budget_ms: 60_000 } });
    await waitFor('the first run to take the lock', async () => {
      const [{ holder }] = await db.sql`select profile_sync.reconcile_lock_holder() as holder`;
      return holder !== null;
    }, 30_000);

    const second = await call({ headers: admin, body: { batch_size: 10 } });
    assert.equal(second.status, 409);
    assert.equal(second.json.error?.code, 'reconcile_in_progress');

    const dry = await call({ headers: admin, body: { dry_run: true } });
    assert.equal(dry.status, 200);
    const status = await call({ method: 'GET', headers: admin });
    assert.equal(status.status, 200);

    const done = await first;
    assert.equal(done.status, 200);
    assert.equal(done.json.complete, true);
    assert.equal(done.json.created, 3000);
    assert.deepEqual(await profileMismatches(db.sql), []);
    const [{ holder }] = await db.sql`select profile_sync.reconcile_lock_holder() as holder`;
    assert.equal(holder, null, 'the lock is released when the run ends');
    const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.runs where not dry_run`;
    assert.equal(n, 1, 'the refused call left no run behind');
  } finally {
    await db.drop();
  }
});
