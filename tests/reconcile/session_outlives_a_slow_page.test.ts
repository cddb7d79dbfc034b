/**
 * A run's session (the one holding the reconcile lock) sits idle while the pool syncs a page; it
 * must live as long as its run, however slow the page. Here a page waits on the sync locks for
 * longer than the server's idle_session_timeout; the run still finishes with 200, and the
 * session keeps neither our pool's idle timeout nor a lifetime.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { openRunSession } from '../../shared/reconcile-connections.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { adminDatabaseUrl, freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { waitFor } from '../helpers/wait.ts';

const IDLE_SESSION_TIMEOUT_MS = 1000;

Deno.test('reconcile: a page slower than the idle timeouts → the run keeps its session and lock, 200', async () => {
  const db = await freshDatabase('reconcile_slow_page');
  // The test's own connection: the server's idle timeout below is for the owner's sessions only.
  const locker = postgres(adminDatabaseUrl(db.name), { max: 1, onnotice: () => {} });
  try {
    await insertAuthUsers(db.sql, 50, 'slow_page');
    // Some servers end idle sessions (idle_session_timeout); the run's session connects as the owner.
    await db.sql.unsafe(`alter role postgres in database "${db.name}" set idle_session_timeout = '${IDLE_SESSION_TIMEOUT_MS}ms'`);

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    // Every key range's sync lock, as a long sync of other users would hold them.
    const holder = locker.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(profile_sync.sync_lock_class(), r) from generate_series(0, 1023) r`;
      holding();
      await released;
    });
    await held;

    const { call } = inProcess('reconcile', db);
    const run = call({ headers: { apikey: DEV_SECRET_KEY }, body: { batch_size: 1000 } });
    await waitFor('the page sync to wait for the locks', async () => {
      const [{ n }] = await db.sql`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`;
      return n > 0;
    }, 30_000);
    // the run's session idles past the server's timeout while its page waits
    await new Promise((r) => setTimeout(r, IDLE_SESSION_TIMEOUT_MS * 3));
    release();
    await holder;

    const answer = await run;
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual([answer.json.complete, answer.json.created, answer.json.failed], [true, 50, 0]);
    assert.deepEqual(await profileMismatches(db.sql), []);
    const [{ holder: lockHolder }] = await db.sql`select profile_sync.reconcile_lock_holder() as holder`;
    assert.equal(lockHolder, null, 'the lock is released when the run ends');
  } finally {
    await locker.end();
    await db.drop();
  }
});

Deno.test('reconcile: the run session has no idle timeout or lifetime of its own (our pools close idle connections after 20 s)', async () => {
  const { sql: session } = openRunSession('postgresql://postgres:postgres@127.0.0.1:1/none');
  try {
    assert.equal(session.options.max, 1);
    assert.ok(!session.options.idle_timeout, `idle_timeout ${session.options.idle_timeout}`);
    assert.ok(!session.options.max_lifetime, `max_lifetime ${session.options.max_lifetime}`);
  } finally {
    await session.end();
  }
});
