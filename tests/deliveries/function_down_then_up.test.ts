/**
 * auth-webhook down while users sign up: every wake-up fails (pg_net records the error and does
 * not retry), but the users wait in the queue; once the function is back, its drain (the local
 * stack's timer, as pg_cron's job on Supabase) delivers every one of them, with no reconcile.
 * And the compat payload (a single signed record) is a wake-up for its user.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { freePort, startTestStack } from '../helpers/stack.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { waitFor } from '../helpers/wait.ts';
import { DEV_WEBHOOK_SECRET, minimalEvent, postWebhook, setWebhookVault } from '../auth-webhook/helpers.ts';

Deno.test('the function down, then up: every queued signup is delivered without reconcile', async () => {
  const db = await freshDatabase('dlv_down_up');
  const port = freePort();
  const url = `http://127.0.0.1:${port}/functions/v1/auth-webhook`;
  // the relay sends wake-ups to a port nobody listens on: the function is down
  const relayOnly = await startTestStack(db.url, { relay: true });
  try {
    await setWebhookVault(db.sql, url, DEV_WEBHOOK_SECRET);
    for (let i = 0; i < 10; i++) await insertAuthUsers(db.sql, 30, `down${i}`);
    await waitFor('the wake-ups to fail', async () => {
      const [{ failed }] = await db.sql`select count(*)::int as failed from net._http_response where error_msg is not null`;
      return failed >= 10 ? true : undefined;
    });
    const [{ queued }] = await db.sql`select count(*)::int as queued from profile_sync.deliveries`;
    assert.equal(queued, 300);
  } finally {
    await relayOnly.close();
  }
  const up = await startTestStack(db.url, { port, drainEveryMs: 200 });
  try {
    await waitFor('every queued user delivered', async () => {
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.deliveries`;
      return n === 0 ? true : undefined;
    }, 30_000);
    assert.deepEqual(await profileMismatches(db.sql), []);
    const [{ runs }] = await db.sql`select count(*)::int as runs from profile_sync.runs`;
    assert.equal(runs, 0, 'no reconcile ran');
  } finally {
    await up.close();
    await db.drop();
  }
});

Deno.test('a single signed record is a wake-up for its user, answered with its outcome', async () => {
  const db = await freshDatabase('dlv_compat');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Compat Carla' } });
    const other = await insertAuthUser(db.sql);
    const { status, json } = await postWebhook(stack, minimalEvent('INSERT', id));
    assert.deepEqual([status, json], [200, { user_id: id, outcome: 'created' }]);
    const left = await db.sql`select user_id from profile_sync.deliveries`;
    assert.deepEqual(left.map((r) => r.user_id), [other], 'its own row is settled; the others wait for a drain');
    // a user with no queue row (its change came before the queue existed, say) is queued and delivered
    await db.sql`delete from profile_sync.deliveries`;
    await db.sql`update auth.users set raw_user_meta_data = '{"full_name":"Carla"}' where id = ${id}`;
    await db.sql`delete from profile_sync.deliveries`;
    const again = await postWebhook(stack, minimalEvent('UPDATE', id));
    assert.deepEqual(again.json, { user_id: id, outcome: 'updated' });
    // the same user held by a drain: answered by a direct sync, the row left to that drain
    await db.sql`update auth.users set raw_user_meta_data = '{"full_name":"Carla C"}' where id = ${id}`;
    await db.sql`select * from profile_sync.claim_deliveries(10)`;
    const held = await postWebhook(stack, minimalEvent('UPDATE', id));
    assert.deepEqual(held.json, { user_id: id, outcome: 'updated' });
    const [row] = await db.sql`select claimed_at from profile_sync.deliveries where user_id = ${id}`;
    assert.ok(row.claimed_at, 'still the drain\'s');
  } finally {
    await stack.close();
    await db.drop();
  }
});
