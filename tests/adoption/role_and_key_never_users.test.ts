/**
 * A mapping can never hand users their role or the key (#24.7): apply_mapping (SQL, the one
 * validator) refuses the role and the key in user_editable and a role taken from user metadata.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import { SHAPE_B } from '../helpers/adoption_shapes.mjs';

Deno.test('the role and the key are never user-editable, and never come from user metadata', async () => {
  const db = await coreDatabase('role_key');
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  try {
    await owner.unsafe(SHAPE_B);
    await owner.unsafe('alter table public.users add column user_role text, add column tier text');
    const base = { table: 'public.users', columns: { email: 'email', full_name: 'full_name' }, soft_delete: null, user_editable: ['full_name'] };
    const refused = async (mapping: unknown, message: RegExp) =>
      await assert.rejects(owner`select profile_sync.apply_mapping(${owner.json(mapping as never)})`, (err: { code?: string; message: string }) => {
        assert.equal(err.code, '22023');
        assert.match(err.message, message);
        return true;
      });
    await refused({ ...base, columns: { ...base.columns, role: { from: 'user_metadata.role', owner: 'app' } }, user_editable: ['role'] },
      /^mapping\.columns\.role\.from: user_metadata\.role is chosen by the user at signup; a role never comes from user metadata/);
    await refused({ ...base, columns: { ...base.columns, tier: 'user_metadata.role' } }, /^mapping\.columns\.tier\.from: user_metadata\.role is chosen by the user/);
    await refused({ ...base, columns: { ...base.columns, user_role: 'user_metadata.app.kind' } }, /^mapping\.columns\.user_role\.from: user_metadata\.app\.kind is chosen by the user/);
    await refused({ ...base, user_editable: ['full_name', 'role'] }, /^mapping\.user_editable: role holds the role; users may never write it/);
    await refused({ ...base, user_editable: ['user_role'] }, /^mapping\.user_editable: user_role holds the role/);
    await refused({ ...base, columns: { ...base.columns, tier: 'role' }, user_editable: ['tier'] }, /^mapping\.user_editable: tier holds the role/);
    await refused({ ...base, user_editable: ['id'] }, /^mapping\.user_editable: id is the key \(it holds auth\.users\.id\); users may never write it/);
    assert.equal((await owner`select count(*)::int as n from profile_sync.settings`)[0].n, 0, 'nothing applied');
    // the role from the role policy, and app metadata (server-controlled): fine
    await owner`select profile_sync.apply_mapping(${owner.json({ ...base, columns: { ...base.columns, role: 'role', tier: 'app_metadata.tier' } } as never)})`;
  } finally {
    await owner.end();
    await db.drop();
  }
});
