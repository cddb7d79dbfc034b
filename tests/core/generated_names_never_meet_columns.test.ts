/**
 * The compiled core's own names ("<what>:<column>", and its fixed names without a colon) never
 * meet the target's columns: a table whose columns are called like them (deleted_at, has_profile,
 * soft_deleted, role_value, in_auth, outcome, id, a_x, n_x, p_x, "auth:x", at …) is adopted,
 * synced, and its app edits kept, like any other.
 */
import assert from 'node:assert/strict';
import { coreDatabase } from '../helpers/db.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

Deno.test('columns named like the compiled names are synced like any other', async () => {
  const db = await coreDatabase('generated_names');
  try {
    await db.sql.unsafe(`
      create table public.named_like_the_core (
        user_id uuid primary key references auth.users (id) on delete cascade,
        deleted_at timestamptz, has_profile boolean, soft_deleted text, role_value text,
        a_x text, n_x text, p_x text, "auth:x" text, "new:x" text, at text, initial_role text,
        in_auth text, applies text, outcome text, id text, base_role text, gone_at timestamptz
      );
      alter table public.named_like_the_core owner to postgres`);
    const mapping = {
      table: 'public.named_like_the_core',
      key: 'user_id',
      columns: {
        deleted_at: 'banned_until',
        has_profile: 'is_anonymous',
        soft_deleted: { value: 'constant' },
        role_value: 'role',
        a_x: { from: 'user_metadata.a', owner: 'app' },
        n_x: 'user_metadata.n',
        p_x: { from: 'user_metadata.p', owner: 'app' },
        'auth:x': 'full_name',
        'new:x': { from: 'user_metadata.n', owner: 'app' },
        at: { from: 'user_metadata.at', owner: 'app' },
        initial_role: { from: 'full_name', owner: 'app' },
        in_auth: 'email',
        applies: 'phone',
        outcome: 'provider',
        id: 'avatar_url',
        base_role: { value: 'none' },
      },
      soft_delete: { at: 'gone_at' },
    };
    const owner = (await import('postgres')).default(db.url, { max: 1, onnotice: () => {} });
    try {
      await owner`select profile_sync.apply_mapping(${owner.json(mapping)})`;
    } finally {
      await owner.end();
    }

    const id = await insertAuthUser(db.sql, {
      email: 'ada@example.com',
      user_metadata: { a: 'A', n: 'N', p: 'P', at: 'AT', r: 'R', full_name: 'Ada', avatar_url: 'https://example.com/a.png' },
    });
    const sync = async () => (await db.sql`select outcome from profile_sync.sync_isolated(${[id]}::uuid[], 'test')`)[0].outcome;
    const row = async () => (await db.sql`select to_jsonb(t) - 'user_id' as r from public.named_like_the_core t where user_id = ${id}`)[0].r;

    assert.equal(await sync(), 'created');
    assert.deepEqual(await row(), {
      deleted_at: null, has_profile: false, soft_deleted: 'constant', role_value: 'user',
      a_x: 'A', n_x: 'N', p_x: 'P', 'auth:x': 'Ada', 'new:x': 'N', at: 'AT', initial_role: 'Ada',
      in_auth: 'ada@example.com', applies: null, outcome: 'email', id: 'https://example.com/a.png', base_role: 'none', gone_at: null,
    });

    // the app edits two app-owned columns; auth changes everything: the edits stay, the rest follows
    await db.sql`update public.named_like_the_core set a_x = 'edited', at = 'mine' where user_id = ${id}`;
    await updateAuthUser(db.sql, id, {
      raw_user_meta_data: { a: 'A2', n: 'N2', p: 'P2', at: 'AT2', r: 'R2', b: 'B2', full_name: 'Ada L' },
    });
    assert.equal(await sync(), 'updated');
    const after = await row();
    assert.deepEqual(
      [after.a_x, after.at, after.n_x, after.p_x, after['new:x'], after.initial_role, after['auth:x'], after.base_role],
      ['edited', 'mine', 'N2', 'P2', 'N2', 'Ada L', 'Ada L', 'none'],
    );
    assert.equal(await sync(), 'unchanged');

    // profile_state's own columns keep their types beside the bookkeeping of a column called "at"
    const columns = await db.sql`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type from pg_attribute a
      where a.attrelid = 'profile_sync.profile_state'::regclass and a.attnum > 0 and not a.attisdropped
        and a.attname in ('synced_at', 'initial_role', 'synced:at', 'edited:at', 'synced:initial_role')
      order by 1`;
    assert.deepEqual(columns.map((c) => `${c.name} ${c.type}`), [
      'edited:at boolean', 'initial_role text', 'synced:at text', 'synced:initial_role text', 'synced_at timestamp with time zone',
    ]);
    // the dry run's preview reads the same names
    await db.sql`select * from profile_sync.sync_preview(${[id]}::uuid[])`;
  } finally {
    await db.drop();
  }
});
