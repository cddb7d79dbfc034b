// Role policy: app metadata (server-controlled) wins; user metadata only for allowlisted roles at
// creation; otherwise the default. User metadata can never grant any other role. The policy is the
// database's (profile_sync.settings): no caller passes one.
import { deepStrictEqual as assertEquals } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { getProfile, setRolePolicy, syncUser } from '../../shared/sync.ts';

const policy = { defaultRole: 'member', selfAssignableRoles: ['creator', 'viewer'] };
const roleOf = async (sql: Parameters<typeof getProfile>[0], id: string) => (await getProfile(sql, id))?.role;

Deno.test('role policy', async (t) => {
  const db = await freshDatabase('roles');
  try {
    await setRolePolicy(db.sql, policy);
    await t.step('role: admin in user metadata at signup is refused', async () => {
      const id = await insertAuthUser(db.sql, provider.email({ role: 'admin' }));
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'member');
    });

    await t.step('role: admin added to user metadata later is refused', async () => {
      const id = await insertAuthUser(db.sql, provider.email({}));
      await syncUser(db.sql, id);
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { role: 'admin' } });
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'member');
    });

    await t.step('an allowlisted role is taken at creation only', async () => {
      const id = await insertAuthUser(db.sql, provider.email({ role: 'creator' }));
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'creator');
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { role: 'viewer' } });
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'creator');
    });

    await t.step('with the default policy nothing is self-assignable', async () => {
      await setRolePolicy(db.sql, { defaultRole: 'user', selfAssignableRoles: [] });
      const id = await insertAuthUser(db.sql, provider.email({ role: 'creator' }));
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'user');
      await setRolePolicy(db.sql, policy);
    });

    await t.step('app metadata role is authoritative and flows; removing it falls back', async () => {
      const id = await insertAuthUser(db.sql, { app_metadata: { provider: 'email', role: 'admin' }, user_metadata: { role: 'creator' } });
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'admin');
      await updateAuthUser(db.sql, id, { raw_app_meta_data: { provider: 'email', role: 'support' } });
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'support');
      await updateAuthUser(db.sql, id, { raw_app_meta_data: { provider: 'email' } });
      await syncUser(db.sql, id);
      assertEquals(await roleOf(db.sql, id), 'creator');
    });

    await t.step('a blank or non-string app metadata role is ignored', async () => {
      const a = await insertAuthUser(db.sql, { app_metadata: { role: '  ' } });
      const b = await insertAuthUser(db.sql, { app_metadata: { role: ['admin'] } });
      await syncUser(db.sql, a);
      await syncUser(db.sql, b);
      assertEquals([await roleOf(db.sql, a), await roleOf(db.sql, b)], ['member', 'member']);
    });
  } finally {
    await db.drop();
  }
});
