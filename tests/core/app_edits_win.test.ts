// App edits win: once the app changes full_name, avatar_url or role, sync never overwrites that
// column again, while auth-side changes to columns the app has not edited still flow.
import { deepStrictEqual as assertEquals } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { getProfile, syncUser } from '../../shared/sync.ts';


Deno.test('app edits survive later syncs; auth changes still flow', async (t) => {
  const db = await freshDatabase('edits');
  try {
    const id = await insertAuthUser(db.sql, { email: 'g@example.com', ...provider.google('Grace') });
    await syncUser(db.sql, id);

    await t.step('unedited columns follow auth', async () => {
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { name: 'Grace B. Hopper', picture: 'https://img.example/1.png' } });
      assertEquals((await syncUser(db.sql, id)).outcome, 'updated');
      const p = await getProfile(db.sql, id);
      assertEquals([p?.full_name, p?.avatar_url], ['Grace B. Hopper', 'https://img.example/1.png']);
    });

    await t.step('edited full_name and role are kept; avatar and email still flow', async () => {
      await db.sql`update public.profiles set full_name = 'Admiral Hopper', role = 'editor' where id = ${id}`;
      await updateAuthUser(db.sql, id, {
        email: 'grace@navy.example',
        raw_user_meta_data: { name: 'Someone Else', picture: 'https://img.example/2.png' },
        raw_app_meta_data: { provider: 'google', role: 'viewer' },
      });
      assertEquals((await syncUser(db.sql, id)).outcome, 'updated');
      const p = await getProfile(db.sql, id);
      assertEquals(p?.full_name, 'Admiral Hopper');
      assertEquals(p?.role, 'editor');
      assertEquals(p?.avatar_url, 'https://img.example/2.png');
      assertEquals(p?.email, 'grace@navy.example');
    });

    await t.step('an edit back to the synced value stays an edit (sticky)', async () => {
      await db.sql`update public.profiles set avatar_url = 'https://img.example/mine.png' where id = ${id}`;
      await syncUser(db.sql, id);
      await db.sql`update public.profiles set avatar_url = 'https://img.example/2.png' where id = ${id}`;
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { name: 'X', picture: 'https://img.example/3.png' } });
      await syncUser(db.sql, id);
      assertEquals((await getProfile(db.sql, id))?.avatar_url, 'https://img.example/2.png');
    });

    await t.step('a profile that predates profile-sync keeps its values', async () => {
      const legacy = await insertAuthUser(db.sql, provider.google('From Auth'));
      await db.sql`insert into public.profiles (id, full_name) values (${legacy}, 'Typed By User')`;
      assertEquals((await syncUser(db.sql, legacy)).outcome, 'updated');
      const p = await getProfile(db.sql, legacy);
      assertEquals(p?.full_name, 'Typed By User');
      assertEquals(p?.avatar_url, 'https://lh3.googleusercontent.com/a/photo.jpg');
    });
  } finally {
    await db.drop();
  }
});
