/**
 * What the triggers send: one Standard-Webhooks-signed wake-up per transaction (not per row),
 * carrying no user data, whose signature the `standardwebhooks` library verifies over the exact
 * bytes pg_net sends, with a timeout above pg_net's 1 s webhook default, to the URL from Vault;
 * the changed users themselves wait in profile_sync.deliveries.
 */
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { freshDatabase } from '../helpers/db.ts';
import { asAuth, insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { newWebhookSecret, queuedRequests, setWebhookVault } from './helpers.ts';

Deno.test('the triggers queue the users and one minimal, signed wake-up per transaction', async (t) => {
  const db = await freshDatabase('trg_payload');
  try {
    const secret = newWebhookSecret();
    const url = 'https://project-ref.supabase.co/functions/v1/auth-webhook';
    await setWebhookVault(db.sql, url, secret);
    const hook = new Webhook(secret.replace(/^v1,/, ''));
    // each change is taken from the queue before the next, as a drain would (a change of a user
    // still waiting adds nothing and sends nothing)
    const drained = () => db.sql`delete from profile_sync.deliveries`;
    const id = await insertAuthUser(db.sql, { ...provider.google('Zoë Ünicode 🚀') });
    await drained();
    await updateAuthUser(db.sql, id, { email: 'zoe@example.com' });
    await updateAuthUser(db.sql, id, { email: 'zoe2@example.com' });
    await db.sql`delete from auth.users where id = ${id}`;
    const requests = await queuedRequests(db.sql);
    assert.equal(requests.length, 2, 'the insert, then the first update (the rest found the user waiting)');

    await t.step('URL from Vault, JSON content type, Standard Webhooks headers, 5 s timeout', async () => {
      const [{ timeout_milliseconds, method }] = await db.sql`select timeout_milliseconds, method from net.http_request_queue limit 1`;
      assert.equal(method, 'POST');
      assert.ok(timeout_milliseconds > 1000);
      for (const r of requests) {
        assert.equal(r.url, url);
        assert.equal(r.headers['Content-Type'], 'application/json');
        assert.match(r.headers['webhook-id'], /^msg_[0-9a-f-]{36}$/);
        assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 90);
        assert.match(r.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
      }
    });

    await t.step('the library verifies every signature over the bytes pg_net sends', () => {
      for (const r of requests) hook.verify(r.body, r.headers);
      assert.throws(() => new Webhook(newWebhookSecret().slice(9)).verify(requests[0].body, requests[0].headers));
    });

    await t.step('the body names the queue and holds no user data', () => {
      for (const r of requests) {
        assert.deepEqual(JSON.parse(r.body), { type: 'WAKE_UP', schema: 'profile_sync', table: 'deliveries' });
        assert.ok(!r.body.includes(id) && !/zoe|token|encrypted_password|\$2a\$/i.test(r.body), r.body);
      }
    });

    await t.step('the changed user waits in the queue (one row, however many changes)', async () => {
      const rows = await db.sql`select user_id, attempts, dead_at from profile_sync.deliveries`;
      assert.deepEqual(rows.map((r) => r.user_id), [id]);
    });

    await t.step('one transaction of 50 inserts and 50 updates: one wake-up, 50 rows', async () => {
      await db.sql`delete from net.http_request_queue`;
      await db.sql`delete from profile_sync.deliveries`;
      const ids: string[] = [];
      await db.sql.begin(async (tx) => {
        for (let i = 0; i < 50; i++) ids.push(await insertAuthUser(tx as never));
        for (const u of ids) await updateAuthUser(tx as never, u, { raw_user_meta_data: { full_name: 'Again' } });
      });
      assert.equal((await queuedRequests(db.sql)).length, 1);
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.deliveries`;
      assert.equal(n, 50);
    });

    await t.step('a rolled-back transaction queues nothing and sends nothing', async () => {
      await db.sql`delete from net.http_request_queue`;
      await db.sql`delete from profile_sync.deliveries`;
      await db.sql.begin(async (tx) => {
        await insertAuthUser(tx as never);
        await tx`rollback to savepoint never_there`.catch(() => {});
        throw new Error('roll back');
      }).catch(() => {});
      await asAuth(db.sql, async (tx) => {
        await tx`savepoint s`;
        await tx`insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
            created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
          values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
            'rolled@example.com', '{}', '{}', now(), now(), '', '', '', '')`;
        await tx`rollback to savepoint s`;
      });
      assert.equal((await queuedRequests(db.sql)).length, 0);
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.deliveries`;
      assert.equal(n, 0);
    });
  } finally {
    await db.drop();
  }
});

Deno.test('the SQL signer matches the standardwebhooks library byte for byte', async () => {
  const db = await freshDatabase('trg_signer');
  try {
    const secret = newWebhookSecret();
    const hook = new Webhook(secret.replace(/^v1,/, ''));
    const body = JSON.stringify({ a: 'ünïcødé ✓', b: [1, 2, 3], c: null });
    const at = new Date(1_790_000_000_000);
    for (const form of [secret, secret.replace(/^v1,/, ''), secret.replace(/=+$/, '')]) {
      const [{ sig }] = await db.sql`
        select profile_sync.standard_webhook_signature('msg_1', ${Math.floor(at.getTime() / 1000)}, ${body}, ${form}) as sig`;
      assert.equal(sig, hook.sign('msg_1', at, body));
    }
  } finally {
    await db.drop();
  }
});
