/**
 * The triggers queue a user on UPDATE only when a synced column changes: a password change, a
 * token write or a bare updated_at bump (what a token refresh or a recovery email does) queues
 * nothing and sends nothing.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';
import { newWebhookSecret, queuedRequests, setWebhookVault } from './helpers.ts';

Deno.test('the trigger ignores updates that change only non-synced columns', async (t) => {
  const db = await freshDatabase('trg_filter');
  try {
    await setWebhookVault(db.sql, 'http://127.0.0.1:9/x', newWebhookSecret());
    const id = await insertAuthUser(db.sql);
    // each change that counts queues the user and sends a wake-up; the queue row is taken away
    // after each, as a drain would
    const count = async () => {
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.deliveries where user_id = ${id}`;
      await db.sql`delete from profile_sync.deliveries`;
      sent += n;
      assert.equal((await queuedRequests(db.sql)).length, sent, 'one wake-up per queued change');
      return sent;
    };
    let sent = 0;
    assert.equal(await count(), 1, 'the insert is queued');

    // Each of these also bumps updated_at (updateAuthUser does, as Auth does).
    const silent: Record<string, unknown>[] = [
      { encrypted_password: '$2a$10$another.hash.value.for.the.test' },
      { recovery_token: 'new-recovery-token', recovery_sent_at: new Date() },
      { confirmation_token: 'new-confirmation-token', confirmation_sent_at: new Date() },
      { email_change_token_new: 'tok', email_change: 'next@example.com', email_change_sent_at: new Date() },
      { reauthentication_token: 'reauth', reauthentication_sent_at: new Date() },
      { banned_until: null, role: 'authenticated', aud: 'authenticated' },
      { phone_change: '15550009999', phone_change_token: 'phone-token', phone_change_sent_at: new Date() },
    ];
    for (const change of silent) {
      await t.step(`no fire: ${Object.keys(change).join(', ')}`, async () => {
        await updateAuthUser(db.sql, id, change);
        assert.equal(await count(), 1);
      });
    }
    await t.step('no fire: a synced column set to the value it already has', async () => {
      const [{ email }] = await db.sql`select email from auth.users where id = ${id}`;
      await updateAuthUser(db.sql, id, { email, raw_app_meta_data: { provider: 'email', providers: ['email'] } });
      assert.equal(await count(), 1);
    });

    const loud: [string, Record<string, unknown>][] = [
      ['email', { email: 'changed@example.com' }],
      ['phone', { phone: '15550001111' }],
      ['raw_user_meta_data', { raw_user_meta_data: { full_name: 'New Name' } }],
      ['raw_app_meta_data', { raw_app_meta_data: { provider: 'email', providers: ['email'], role: 'editor' } }],
      ['is_anonymous', { is_anonymous: true }],
      ['email_confirmed_at', { email_confirmed_at: new Date() }],
      ['last_sign_in_at', { last_sign_in_at: new Date() }],
      ['deleted_at', { deleted_at: new Date() }],
    ];
    let expected = 1;
    for (const [column, change] of loud) {
      await t.step(`fires: ${column}`, async () => {
        await updateAuthUser(db.sql, id, change);
        assert.equal(await count(), ++expected);
      });
    }
    await t.step('fires: delete', async () => {
      await db.sql`delete from auth.users where id = ${id}`;
      assert.equal(await count(), ++expected);
    });
  } finally {
    await db.drop();
  }
});
