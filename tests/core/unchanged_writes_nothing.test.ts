// A sync that changes nothing writes nothing: row versions (xmin, ctid) of the profile and of its
// bookkeeping stay as they were. An auth change outside the synced columns moves only bookkeeping.
import { deepStrictEqual as assertEquals, notDeepStrictEqual as assertNotEquals } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { syncUsers } from '../../shared/sync.ts';
import type { Sql } from '../../shared/db.ts';

const versions = (sql: Sql, ids: string[]) => sql`
  select p.id, p.xmin::text as p_xmin, p.ctid::text as p_ctid, s.xmin::text as s_xmin, p.updated_at
  from public.profiles p join profile_sync.profile_state s on s.user_id = p.id
  where p.id = any(${ids}::uuid[]) order by p.id`;

Deno.test('an unchanged sync writes nothing', async () => {
  const db = await freshDatabase('unchanged');
  try {
    const ids = [
      await insertAuthUser(db.sql, provider.google()),
      await insertAuthUser(db.sql, provider.github()),
      await insertAuthUser(db.sql, provider.anonymous()),
    ];
    assertEquals((await syncUsers(db.sql, ids)).map((r) => r.outcome), ['created', 'created', 'created']);
    const before = await versions(db.sql, ids);
    const again = await syncUsers(db.sql, [...ids, ...ids]);
    assertEquals(again.map((r) => r.outcome), ['unchanged', 'unchanged', 'unchanged']);
    assertEquals(await versions(db.sql, ids), before);
  } finally {
    await db.drop();
  }
});

Deno.test('a password change updates bookkeeping only', async () => {
  const db = await freshDatabase('unchanged_pw');
  try {
    const id = await insertAuthUser(db.sql, provider.google());
    await syncUsers(db.sql, [id]);
    const [before] = await versions(db.sql, [id]);
    await updateAuthUser(db.sql, id, { encrypted_password: '$2a$10$changed' });
    assertEquals((await syncUsers(db.sql, [id]))[0].outcome, 'unchanged');
    const [after] = await versions(db.sql, [id]);
    assertEquals([after.p_xmin, after.p_ctid], [before.p_xmin, before.p_ctid]);
    assertNotEquals(after.s_xmin, before.s_xmin);
  } finally {
    await db.drop();
  }
});

Deno.test('an older auth state never overwrites a newer one (version guard)', async () => {
  const db = await freshDatabase('version_guard');
  try {
    const id = await insertAuthUser(db.sql, provider.email({ full_name: 'New' }));
    await syncUsers(db.sql, [id]);
    // Simulate a state that was synced from a newer auth version than the row now shows.
    await db.sql`update profile_sync.profile_state set auth_updated_at = now() + interval '1 hour' where user_id = ${id}`;
    await db.sql`update auth.users set raw_user_meta_data = '{"full_name":"Old"}' where id = ${id}`;
    assertEquals((await syncUsers(db.sql, [id]))[0].outcome, 'unchanged');
    const [p] = await db.sql`select full_name from public.profiles where id = ${id}`;
    assertEquals(p.full_name, 'New');
  } finally {
    await db.drop();
  }
});
