/**
 * Nothing secret reaches the log: during deliveries of Supabase's full Database Webhook row
 * (encrypted_password and token columns included), accepted, refused and unsigned, the captured
 * log never holds those values, the webhook secret or the signature.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { DEV_WEBHOOK_SECRET, postWebhook, signHeaders, webhookUrl } from './helpers.ts';

Deno.test('auth-webhook logs hold no secrets from a full-row delivery', async () => {
  const db = await freshDatabase('webhook_logs');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql);
    const marker = crypto.randomUUID().replaceAll('-', '');
    const secrets = {
      encrypted_password: `$2a$10$${marker}pw`,
      confirmation_token: `${marker}confirm`,
      recovery_token: `${marker}recovery`,
      email_change_token_new: `${marker}changenew`,
      email_change_token_current: `${marker}changecur`,
      phone_change_token: `${marker}phone`,
      reauthentication_token: `${marker}reauth`,
    };
    await db.sql`update auth.users set ${db.sql(secrets)} where id = ${id}`;
    const [{ row }] = await db.sql`select to_jsonb(u) as row from auth.users u where id = ${id}`;
    for (const [k, v] of Object.entries(secrets)) assert.equal(row[k], v, `the full row carries ${k}`);
    const event = (record: unknown) => ({ type: 'UPDATE', table: 'users', schema: 'auth', record, old_record: record });

    const accepted = await postWebhook(stack, event(row));
    assert.equal(accepted.status, 200);
    const invalid = await postWebhook(stack, event({ ...row, email: 42 }));
    assert.equal(invalid.status, 400);
    const otherTable = await postWebhook(stack, { ...event(row), table: 'sessions' });
    assert.equal(otherTable.status, 400);
    const unsigned = await postWebhook(stack, event(row), { headers: { 'webhook-signature': 'v1,AAAA' } });
    assert.equal(unsigned.status, 401);
    const body = JSON.stringify(event(row));
    const headers = signHeaders(body);
    await fetch(webhookUrl(stack), { method: 'POST', body, headers }).then((r) => r.body?.cancel());

    const log = stack.logs.join('\n');
    assert.match(log, /"msg":"auth user synced"/, 'the deliveries were logged');
    assert.match(log, /"status":401/);
    assert.ok(!log.includes(marker), 'no encrypted_password or token value in the log');
    const secretBase64 = DEV_WEBHOOK_SECRET.replace(/^v1,whsec_/, '');
    assert.ok(!log.includes(secretBase64), 'the webhook secret is not in the log');
    assert.ok(!log.includes(headers['webhook-signature'].slice(3)), 'the signature is not in the log');
  } finally {
    await stack.close();
    await db.drop();
  }
});
