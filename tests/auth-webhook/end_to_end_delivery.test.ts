/**
 * End to end: writes to auth.users → the triggers queue the user and a signed wake-up in the
 * pg_net stand-in → the stack's relay sends it over HTTP → auth-webhook verifies it, drains the
 * queue and the profile follows. Proves the SQL signer and the TypeScript verifier agree.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from './helpers.ts';
import { waitFor } from '../helpers/wait.ts';

type Response = { status_code: number | null; content: string | null; error_msg: string | null };

Deno.test('auth.users changes reach public.profiles through the signed webhook', async (t) => {
  const db = await freshDatabase('webhook_e2e');
  const stack = await startTestStack(db.url, { relay: true });
  try {
    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    const profile = (id: string) => db.sql`select * from public.profiles where id = ${id}`.then((r) => r[0]);
    const answers = () => db.sql<Response[]>`select status_code, content, error_msg from net._http_response order by id`;
    const id = crypto.randomUUID();

    await t.step('insert creates the profile', async () => {
      const started = performance.now();
      await insertAuthUser(db.sql, { id, ...provider.google('Grace Hopper') });
      const p = await waitFor('profile created', () => profile(id));
      console.log(`insert → profile in ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(p.full_name, 'Grace Hopper');
      assert.deepEqual(p.provider, 'google');
      const [answer] = await waitFor('response recorded', async () => (await answers()).length ? await answers() : undefined);
      assert.deepEqual(answer.status_code, 200);
      assert.deepEqual(JSON.parse(answer.content!), { batches: 1, delivered: 1, failed: 0 });
    });

    await t.step('update of a synced column updates the profile', async () => {
      await updateAuthUser(db.sql, id, { email: 'grace@navy.example', raw_user_meta_data: { full_name: 'Rear Admiral Hopper' } });
      const p = await waitFor('profile updated', async () => {
        const row = await profile(id);
        return row.full_name === 'Rear Admiral Hopper' ? row : undefined;
      });
      assert.deepEqual(p.email, 'grace@navy.example');
    });

    await t.step('soft delete tombstones the profile', async () => {
      await updateAuthUser(db.sql, id, { deleted_at: new Date(), email: null });
      const p = await waitFor('profile soft-deleted', async () => {
        const row = await profile(id);
        return row.deleted_at ? row : undefined;
      });
      assert.deepEqual([p.email, p.full_name, p.avatar_url], [null, null, null]);
    });

    await t.step('hard delete removes the profile and empties the queue', async () => {
      await db.sql`delete from auth.users where id = ${id}`;
      await waitFor('delete answered', async () => ((await answers()).length === 4 ? true : undefined));
      assert.deepEqual(await profile(id), undefined);
      await waitFor('queue empty', async () =>
        (await db.sql`select 1 from profile_sync.deliveries`).length === 0 ? true : undefined);
    });

    await t.step('an insert made as supabase_auth_admin (as Auth does) is delivered too', async () => {
      const other = crypto.randomUUID();
      await db.sql.begin(async (tx) => {
        await tx`set local role supabase_auth_admin`;
        await insertAuthUser(tx as never, { id: other, ...provider.github('octocat') });
      });
      const p = await waitFor('profile created', () => profile(other));
      assert.deepEqual(p.full_name, 'octocat');
    });

    const all = await answers();
    assert(all.every((a) => a.status_code === 200 && a.error_msg === null), JSON.stringify(all));
  } finally {
    await stack.close();
    await db.drop();
  }
});
