// 50 concurrent syncs of the same users, with auth updates interleaved, end in exactly one
// correct row per user: no deadlock, no unique violation, the final auth state wins.
// (Updates are single-row, as Auth issues them: multi-row UPDATEs can deadlock each other.)
import { deepStrictEqual as assertEquals } from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { syncUsers } from '../../shared/sync.ts';


Deno.test('50 concurrent syncs of the same users', async () => {
  const db = await freshDatabase('concurrent');
  const pool = postgres(db.url, { max: 25, prepare: false, onnotice: () => {} });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await insertAuthUser(db.sql, provider.email({ full_name: `v0-${i}` })));
    const syncs = Array.from({ length: 50 }, (_, k) => {
      // each call syncs the users in a different order, some overlapping subsets
      const order = k % 2 === 0 ? [...ids] : [...ids].reverse();
      return syncUsers(pool, order.slice(0, 10 + (k % 11)));
    });
    // auth updates one row at a time, as Auth writes them, interleaved with the syncs
    const updates = Array.from({ length: 10 }, async (_, v) => {
      for (const id of ids) {
        await pool`update auth.users set raw_user_meta_data = jsonb_build_object('full_name', ${`v${v + 1}-${id}`}::text),
                   updated_at = clock_timestamp() where id = ${id}`;
      }
    });
    await Promise.all([...syncs, ...updates]);
    await syncUsers(pool, ids); // the final sync after every update committed
    const rows = await db.sql`
      select p.id, p.full_name, u.raw_user_meta_data ->> 'full_name' as auth_name
      from public.profiles p join auth.users u using (id) where p.id = any(${ids}::uuid[])`;
    assertEquals(rows.length, ids.length);
    for (const r of rows) assertEquals(r.full_name, r.auth_name);
  } finally {
    await pool.end();
    await db.drop();
  }
});
