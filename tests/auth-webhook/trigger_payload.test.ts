/**
 * What the trigger queues: the Database Webhook shape with non-secret columns only, Standard
 * Webhooks headers whose signature the `standardwebhooks` library verifies over the exact bytes
 * pg_net sends, a timeout above pg_net's 1 s webhook default, the URL from Vault.
 */
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { newWebhookSecret, queuedRequests, setWebhookVault } from './helpers.ts';

const ALLOWED = [
  'id', 'email', 'phone', 'raw_user_meta_data', 'raw_app_meta_data', 'is_anonymous', 'email_confirmed_at',
  'last_sign_in_at', 'created_at', 'updated_at', 'deleted_at',
].sort();

Deno.test('the trigger queues a minimal, signed Database Webhook', async (t) => {
  const db = await freshDatabase('trg_payload');
  try {
    const secret = newWebhookSecret();
    const url = 'https://project-ref.supabase.co/functions/v1/auth-webhook';
    await setWebhookVault(db.sql, url, secret);
    const hook = new Webhook(secret.replace(/^v1,/, ''));
    const id = await insertAuthUser(db.sql, { ...provider.google('Zoë Ünicode 🚀') });
    await updateAuthUser(db.sql, id, { email: 'zoe@example.com' });
    await db.sql`delete from auth.users where id = ${id}`;
    const requests = await queuedRequests(db.sql);
    assert.equal(requests.length, 3);

    await t.step('URL from Vault, JSON content type, Standard Webhooks headers, 5 s timeout', async () => {
      const [{ timeout_milliseconds, method }] = await db.sql`select timeout_milliseconds, method from net.http_request_queue limit 1`;
      assert.equal(method, 'POST');
      assert.ok(timeout_milliseconds > 1000);
      for (const r of requests) {
        assert.equal(r.url, url);
        assert.equal(r.headers['Content-Type'], 'application/json');
        assert.match(r.headers['webhook-id'], /^msg_[0-9a-f-]{36}$/);
        assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
        assert.match(r.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
      }
      assert.equal(new Set(requests.map((r) => r.headers['webhook-id'])).size, 3, 'a new id per message');
    });

    await t.step('the library verifies every signature over the bytes pg_net sends (non-ASCII included)', () => {
      for (const r of requests) hook.verify(r.body, r.headers);
      assert.throws(() => new Webhook(newWebhookSecret().slice(9)).verify(requests[0].body, requests[0].headers));
    });

    await t.step('shape: {type, table, schema, record, old_record}, by operation', () => {
      const [ins, upd, del] = requests.map((r) => JSON.parse(r.body));
      assert.deepEqual(Object.keys(ins).sort(), ['old_record', 'record', 'schema', 'table', 'type']);
      assert.deepEqual([ins.type, ins.schema, ins.table, ins.record.id, ins.old_record], ['INSERT', 'auth', 'users', id, null]);
      assert.equal(ins.record.raw_user_meta_data.full_name, 'Zoë Ünicode 🚀');
      assert.deepEqual([upd.type, upd.record.email, upd.old_record.id], ['UPDATE', 'zoe@example.com', id]);
      assert.deepEqual([del.type, del.record, del.old_record.id], ['DELETE', null, id]);
    });

    await t.step('only non-secret columns: no encrypted_password, no token column', () => {
      for (const r of requests) {
        const event = JSON.parse(r.body);
        for (const row of [event.record, event.old_record].filter(Boolean)) assert.deepEqual(Object.keys(row).sort(), ALLOWED);
        assert.ok(!/token|encrypted_password|\$2a\$/.test(r.body), r.body);
      }
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
