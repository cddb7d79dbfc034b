/**
 * Auth deleting a user while auth-webhook delivers that same user (a single-record payload): the
 * delete commits and the delivery answers. A delivery that held the user's queue row while it
 * waited for the sync's locks deadlocked with the delete here — Auth's delete holds the profile
 * (the cascade) and then queues the user; the delivery held the queue row and then locked the
 * profile — and the deadlock detector aborted the delete about as often as not.
 *
 * The interleaving is forced: a third transaction holds the user's sync lock (as a reconcile page
 * or another delivery of the same key range would) while the delivery starts and the delete runs.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { deliverUsers } from '../../shared/deliveries.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { adminDatabaseUrl, freshDatabase } from '../helpers/db.ts';
import { asAuth } from '../helpers/users.ts';
import { waitFor } from '../helpers/wait.ts';

Deno.test('Auth deletes a user while a delivery of that user waits for its sync lock: both finish', async () => {
  const db = await freshDatabase('deliveries_delete_race');
  const holder = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} });
  const delivery = postgres(db.url, { max: 1, prepare: false, onnotice: () => {}, connection: { application_name: 'race-delivery' } });
  const auth = postgres(adminDatabaseUrl(db.name), { max: 1, prepare: false, onnotice: () => {}, connection: { application_name: 'race-auth' } });
  try {
    const [id] = await insertAuthUsers(db.sql, 1, 'doomed');
    await db.sql`select count(*) from profile_sync.sync_users(${[id]}::uuid[])`;
    const waiting = async (app: string) => {
      const [row] = await db.sql`
        select wait_event_type from pg_catalog.pg_stat_activity
        where datname = current_database() and application_name = ${app}`;
      return row?.wait_event_type === 'Lock';
    };

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = holder.begin(async (tx) => {
      await tx`select pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), profile_sync.key_range(${id}))`;
      await released;
    });
    await waitFor('the sync lock held', async () =>
      (await db.sql`select count(*)::int as n from pg_catalog.pg_locks where locktype = 'advisory' and granted`)[0].n > 0);

    const delivered = deliverUsers(delivery, [id], 'auth-webhook').then((r) => ({ ok: true, r }), (err) => ({ ok: false, err }));
    await waitFor('the delivery waiting for the sync lock', () => waiting('race-delivery'));

    const deleted = asAuth(auth, (tx) => tx`delete from auth.users where id = ${id}`)
      .then(() => ({ ok: true }), (err) => ({ ok: false, err }));
    // the delete either finishes at once or waits; give it the time to reach its wait
    await Promise.race([deleted, new Promise((resolve) => setTimeout(resolve, 300))]);
    release();
    await held;

    const [d, v] = await Promise.all([deleted, delivered]);
    assert.deepEqual(d, { ok: true }, 'Auth\'s delete committed');
    assert.equal(v.ok, true, `the delivery answered: ${'err' in v ? String(v.err) : ''}`);
    // a delivery aborted by the deadlock detector settles as 'failed' (retried later)
    assert.deepEqual('r' in v ? v.r.map((r) => r.outcome) : [], ['not_found'], 'the delivery saw the user gone');
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = ${id}`;
    assert.equal(n, 0, 'the profile went with the user');
  } finally {
    await Promise.all([holder.end(), delivery.end(), auth.end()]);
    await db.drop();
  }
});
