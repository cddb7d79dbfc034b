/**
 * One dry run at a time per database: while one runs, a second (from any process) is refused at
 * once with 409 dry_run_in_progress and Retry-After; the first completes, and the next one after
 * it is served.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { waitFor } from '../helpers/wait.ts';

const admin = { apikey: DEV_SECRET_KEY };

Deno.test('reconcile: a second concurrent dry run → 409 dry_run_in_progress with Retry-After', async () => {
  const db = await freshDatabase('dry_run_concurrent');
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await insertAuthUser(db.sql);
    // two isolates, as two instances of the function would be
    const one = inProcess('reconcile', db);
    const two = inProcess('reconcile', db);
    // The first dry run is held inside the database: it waits for a lock on public.profiles.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const held = holder.begin(async (tx) => {
      await tx`lock table public.profiles in access exclusive mode`;
      await released;
    });
    await waitFor('the lock to be held', async () =>
      (await db.sql`select 1 from pg_locks where relation = 'public.profiles'::regclass and mode = 'AccessExclusiveLock' and granted`).length > 0);
    const first = one.call({ headers: admin, body: { dry_run: true } });
    await waitFor('the first dry run to wait for the lock', async () =>
      (await db.sql`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%reconcile_dry_run%'`).length > 0, 10_000);

    // answered at once, not after the first (on a loop that cannot end while the lock is held)
    const others = Promise.all([two.call({ headers: admin, body: { dry_run: true } }), one.call({ headers: admin, body: { dry_run: true } })]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = await Promise.race([others, new Promise<'waited'>((r) => (timer = setTimeout(() => r('waited'), 5000)))]);
    clearTimeout(timer);
    release();
    await held;
    assert.notEqual(answered, 'waited', 'the second dry run waited for the first');
    for (const res of await others) {
      assert.deepEqual([res.status, res.json.error?.code], [409, 'dry_run_in_progress'], JSON.stringify(res.json));
      assert.equal(res.headers.get('retry-after'), '5');
    }
    const done = await first;
    assert.equal(done.status, 200, JSON.stringify(done.json));
    assert.equal(done.json.missing, 1);
    const after = await two.call({ headers: admin, body: { dry_run: true } });
    assert.equal(after.status, 200, 'the lock went with the first dry run');
  } finally {
    await holder.end();
    await db.drop();
  }
});
