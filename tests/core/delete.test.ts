// Soft delete keeps a tombstone with personal fields cleared; hard delete removes the profile,
// by cascade or, where the foreign key was removed, by the core itself.
import { deepStrictEqual as assertEquals } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { getProfile, syncUser, syncUsers } from '../../shared/sync.ts';


Deno.test('soft and hard delete', async (t) => {
  const db = await freshDatabase('deletes');
  const bookkeepingOf = async (id: string) =>
    (await db.sql`select count(*)::int as n from profile_sync.profile_state where user_id = ${id}`)[0].n as number;
  try {
    await t.step('soft delete clears personal fields and sets deleted_at', async () => {
      const id = await insertAuthUser(db.sql, { email: 'soft@example.com', phone: '15550001', ...provider.google('Soft') });
      await syncUser(db.sql, id);
      // what Auth's SoftDeleteUser does: obfuscates email/phone, empties metadata, sets deleted_at
      await updateAuthUser(db.sql, id, {
        deleted_at: new Date(), email: `${id}@deleted.invalid`, phone: null, raw_user_meta_data: {}, raw_app_meta_data: {},
      });
      assertEquals((await syncUser(db.sql, id)).outcome, 'deleted');
      const p = await getProfile(db.sql, id);
      assertEquals([p?.email, p?.phone, p?.full_name, p?.avatar_url], [null, null, null, null]);
      assertEquals(p?.deleted_at !== null, true);
      assertEquals((await syncUser(db.sql, id)).outcome, 'unchanged');
    });

    await t.step('an edited name is cleared on soft delete too', async () => {
      const id = await insertAuthUser(db.sql, provider.google('Edited'));
      await syncUser(db.sql, id);
      await db.sql`update public.profiles set full_name = 'Mine' where id = ${id}`;
      await updateAuthUser(db.sql, id, { deleted_at: new Date() });
      await syncUser(db.sql, id);
      assertEquals((await getProfile(db.sql, id))?.full_name, null);
    });

    await t.step('hard delete cascades; syncing the gone user reports not_found', async () => {
      const id = await insertAuthUser(db.sql);
      await syncUser(db.sql, id);
      await db.sql`delete from auth.users where id = ${id}`;
      assertEquals(await getProfile(db.sql, id), undefined);
      assertEquals(await bookkeepingOf(id), 0, 'the bookkeeping goes with the auth user');
      assertEquals((await syncUser(db.sql, id)).outcome, 'not_found');
    });

    await t.step('bookkeeping goes with the auth user even when the profile went first', async () => {
      const id = await insertAuthUser(db.sql);
      const other = await insertAuthUser(db.sql);
      await syncUsers(db.sql, [id, other]);
      await db.sql`delete from public.profiles where id = ${id}`;
      assertEquals(await bookkeepingOf(id), 1, 'a profile deleted by the app keeps its merge base');
      await db.sql`delete from auth.users where id = ${id}`;
      assertEquals([await bookkeepingOf(id), await bookkeepingOf(other)], [0, 1]);
    });

    await t.step('without the foreign key the core deletes the orphan', async () => {
      const keep = await insertAuthUser(db.sql);
      const gone = await insertAuthUser(db.sql);
      await syncUsers(db.sql, [keep, gone]);
      await db.sql`alter table public.profiles drop constraint profiles_id_fkey`;
      await db.sql`delete from auth.users where id = ${gone}`;
      const results = await syncUsers(db.sql, [keep, gone]);
      assertEquals(results.find((r) => r.user_id === gone)?.outcome, 'deleted');
      assertEquals(results.find((r) => r.user_id === keep)?.outcome, 'unchanged');
      assertEquals(await getProfile(db.sql, gone), undefined);
    });
  } finally {
    await db.drop();
  }
});
