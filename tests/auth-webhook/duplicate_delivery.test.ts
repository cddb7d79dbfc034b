/**
 * The same signed delivery twice (pg_net or a proxy repeating it) is harmless: the second
 * answers unchanged and writes nothing; a stale delivery after a newer one changes nothing.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { minimalEvent, signHeaders, webhookUrl } from './helpers.ts';

Deno.test('a duplicated webhook delivery is harmless', async () => {
  const db = await freshDatabase('webhook_dup');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql, provider.google('Grace'));
    const body = JSON.stringify(minimalEvent('INSERT', id));
    const headers = signHeaders(body);
    const send = async () => {
      const res = await fetch(webhookUrl(stack), { method: 'POST', body, headers });
      return [res.status, await res.json()];
    };

    assert.deepEqual(await send(), [200, { user_id: id, outcome: 'created' }]);
    const [before] = await db.sql`select updated_at from public.profiles where id = ${id}`;
    assert.deepEqual(await send(), [200, { user_id: id, outcome: 'unchanged' }]);

    // Concurrent duplicates: each answers, one row, never a 500.
    const all = await Promise.all([send(), send(), send()]);
    assert.ok(all.every(([status]) => status === 200), JSON.stringify(all));

    await updateAuthUser(db.sql, id, { raw_user_meta_data: { full_name: 'Grace Brewster Hopper' } });
    assert.deepEqual(await send(), [200, { user_id: id, outcome: 'updated' }], 'the old delivery syncs the current row');

    const rows = await db.sql`select full_name, updated_at from public.profiles where id = ${id}`;
    assert.equal(rows.length, 1);
    assert.equal(rows[0].full_name, 'Grace Brewster Hopper');
    assert.ok(rows[0].updated_at > before.updated_at);
  } finally {
    await stack.close();
    await db.drop();
  }
});
