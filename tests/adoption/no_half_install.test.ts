/**
 * No half-install (#20.4): with the core applied and no valid mapping, the pasted trigger stays
 * and keeps giving every signup its row; apply_mapping replaces it only in the transaction of a
 * successful compile, so a mapping that fails anywhere (its check, or the compile itself) leaves
 * the project exactly as it was.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { QUICKSTART_MAPPING, SHAPE_A } from '../helpers/adoption_shapes.mjs';

Deno.test('a mapping that fails leaves the pasted trigger syncing every signup', async (t) => {
  const db = await coreDatabase('no_half_install');
  const { sql } = db;
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  const pasted = async () => {
    const [row] = await sql`
      select t.tgenabled, p.prosrc ~ 'insert into public.profiles' as writes
      from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = 'auth.users'::regclass and t.tgname = 'on_auth_user_created'`;
    return row ? { enabled: row.tgenabled, writes: row.writes } : null;
  };
  const unchanged = async () => {
    assert.deepEqual(await pasted(), { enabled: 'O', writes: true }, 'the pasted trigger is attached and still writes');
    assert.equal((await sql`select count(*)::int as n from profile_sync.settings`)[0].n, 0, 'no mapping stored');
    assert.equal((await sql`select count(*)::int as n from pg_trigger where tgrelid = 'public.profiles'::regclass and tgname like 'profile_sync%'`)[0].n, 0);
    const id = await insertAuthUser(sql, provider.google('Signup'));
    assert.equal((await sql`select full_name from public.profiles where id = ${id}`)[0]?.full_name, 'Signup', 'the old trigger gave the signup its row');
  };
  try {
    await owner.unsafe(SHAPE_A);

    await t.step('a mapping that does not validate (a typo): nothing changes', async () => {
      await assert.rejects(owner`select profile_sync.apply_mapping(${owner.json({
        ...QUICKSTART_MAPPING, columns: { ...QUICKSTART_MAPPING.columns, avatar_ur1: 'avatar_url' },
      } as never)})`, /mapping\.columns\.avatar_ur1: column avatar_ur1 does not exist in public\.profiles/);
      await unchanged();
    });

    await t.step('a compile that fails (its bookkeeping table locked): nothing changes', async () => {
      await sql.begin(async (locker) => {
        await locker`lock table profile_sync.profile_state in access share mode`;
        await assert.rejects(owner.begin(async (tx) => {
          await tx`set local lock_timeout = '200ms'`;
          await tx`select profile_sync.apply_mapping(${tx.json(QUICKSTART_MAPPING as never)})`;
        }), { code: '55P03' });
      });
      await unchanged();
    });

    await t.step('a mapping that compiles replaces the pasted trigger in the same transaction', async () => {
      await owner`select profile_sync.apply_mapping(${owner.json(QUICKSTART_MAPPING as never)})`;
      const after = await pasted();
      assert.ok(after === null || after.writes === false, 'dropped, or its function neutralised');
      assert.equal((await sql`select count(*)::int as n from pg_trigger where tgrelid = 'public.profiles'::regclass and tgname = 'profile_sync_user_writes'`)[0].n, 1);
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});
