/**
 * What a signed-in user writes to a column they may edit passes the rules a synced value passes
 * (the trigger profile_sync_user_writes on the mapped table): names are trimmed and
 * bounded, avatars are http(s) URLs, a value that cleans to nothing is refused. profile-sync's own
 * writes and the service role are not users' edits.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { asRole } from '../helpers/rls.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { syncUser } from '../../shared/sync.ts';

Deno.test('user edits are cleaned as synced values are, or refused', async (t) => {
  const db = await freshDatabase('user_edits');
  try {
    const id = await insertAuthUser(db.sql, provider.google('Grace'));
    await syncUser(db.sql, id);
    const me = { role: 'authenticated', sub: id } as const;
    const edit = (column: string, value: string) =>
      asRole(db.sql, me, async (tx) => {
        await tx`update public.profiles set ${tx({ [column]: value })} where id = ${id}`;
        const [row] = await tx`select full_name, avatar_url from public.profiles where id = ${id}`;
        return row;
      });
    const refused = (err: { code?: string; message: string }) => err.code === '23514';

    await t.step('a name is trimmed and bounded', async () => {
      assert.equal((await edit('full_name', '   Ada Lovelace  ')).full_name, 'Ada Lovelace');
      assert.equal((await edit('full_name', 'x'.repeat(1_000_000))).full_name.length, 200);
    });
    await t.step('a blank name is refused', async () => {
      await assert.rejects(edit('full_name', '    '), refused);
    });
    await t.step('an avatar must be an http(s) URL', async () => {
      await assert.rejects(edit('avatar_url', 'javascript:alert(1)'), refused);
      await assert.rejects(edit('avatar_url', 'data:image/png;base64,AAAA'), refused);
      assert.equal((await edit('avatar_url', 'https://img.example/a.png')).avatar_url, 'https://img.example/a.png');
    });
    await t.step('the service role and profile-sync itself are not users', async () => {
      await asRole(db.sql, { role: 'service_role' }, (tx) => tx`update public.profiles set full_name = '  spaced  ' where id = ${id}`);
      assert.equal((await syncUser(db.sql, id)).outcome, 'unchanged');
    });
  } finally {
    await db.drop();
  }
});
