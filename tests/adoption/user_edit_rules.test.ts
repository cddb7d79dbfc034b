/**
 * Every user-editable text column of an adopted table has a cleaning rule by its kind (#24.2),
 * stated in the mapping ("clean", a default by column name when the mapping names none) and
 * listed for doctor (profile_sync.user_edit_rules()): URL-like columns take http(s) only, names
 * are cleaned as synced names are, avatars take a Storage object path or a URL, anything else is
 * refused with control, bidi or zero-width characters or over its length cap. Refusals are
 * SQLSTATE 23514 naming the column.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import { asRole } from '../helpers/rls.ts';
import { upsert } from '../helpers/postgrest.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { QUICKSTART_MAPPING, SHAPE_A } from '../helpers/adoption_shapes.mjs';

const TYPES = { id: 'uuid', username: 'text', website: 'text', avatar_url: 'text', updated_at: 'timestamptz', bio: 'text', full_name: 'text' };
const refused = (column: string, message: RegExp) => (err: { code?: string; message: string; column_name?: string }) => {
  assert.equal(err.code, '23514', err.message);
  assert.equal(err.column_name, column);
  assert.match(err.message, message);
  return true;
};

Deno.test('user-editable columns of the adopted quickstart table: a rule each, refused or cleaned', async (t) => {
  const db = await coreDatabase('edit_rules');
  const { sql } = db;
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  try {
    await owner.unsafe(SHAPE_A);
    await owner.unsafe('alter table public.profiles add column bio text');
    const me = await insertAuthUser(sql, provider.google('Ada'));
    const [{ m }] = await owner`select profile_sync.apply_mapping(${owner.json({ ...QUICKSTART_MAPPING, user_editable: [...QUICKSTART_MAPPING.user_editable, 'bio'] } as never)}) as m`;
    const save = (body: Record<string, unknown>) =>
      asRole(sql, { role: 'authenticated', sub: me }, async (tx) => {
        await upsert(tx, 'public.profiles', { id: me, ...body }, TYPES);
        return (await tx`select username, website, avatar_url, bio, full_name from public.profiles where id = ${me}`)[0];
      });

    await t.step('the mapping states a rule per user-editable text column; doctor reads them', async () => {
      assert.deepEqual(m.clean, {
        avatar_url: { rule: 'storage_path', max_length: 1024 },
        bio: { rule: 'text', max_length: 5000 },
        full_name: { rule: 'name', max_length: 200 },
        username: { rule: 'name', max_length: 200 },
        website: { rule: 'url', max_length: 2048 },
      });
      const rules = await sql`select column_name, rule, max_length, on_bad_value from profile_sync.user_edit_rules()`;
      assert.deepEqual(rules.map((r) => [r.column_name, r.rule, r.on_bad_value]), [
        ['avatar_url', 'storage_path', 'refused'], ['bio', 'text', 'refused'], ['full_name', 'name', 'cleaned'],
        ['username', 'name', 'cleaned'], ['website', 'url', 'refused'],
      ]);
    });

    await t.step('website: http(s) only, at most 2048 characters', async () => {
      assert.equal((await save({ website: 'https://ada.example/about' })).website, 'https://ada.example/about');
      for (const bad of ['javascript:alert(document.cookie)', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', `https://a.example/${'x'.repeat(1_048_576)}`]) {
        await assert.rejects(save({ website: bad }), refused('website', /^profile_sync: public\.profiles\.website: an http\(s\) URL \(at most 2048 characters\) is required \(rule url\)$/));
      }
    });

    await t.step('avatar_url: a Storage object path (the quickstart) or an http(s) URL', async () => {
      assert.equal((await save({ avatar_url: '0.8263.png' })).avatar_url, '0.8263.png');
      assert.equal((await save({ avatar_url: `${me}/avatar.png` })).avatar_url, `${me}/avatar.png`);
      assert.equal((await save({ avatar_url: 'https://cdn.example/a.png' })).avatar_url, 'https://cdn.example/a.png');
      for (const bad of ['javascript:alert(1)', 'data:image/png;base64,AAAA', '//evil.example/a.png', '../../etc/passwd', '/a.png', 'a/../b.png', 'a b.png', 'x'.repeat(1025)]) {
        await assert.rejects(save({ avatar_url: bad }), refused('avatar_url', /Storage object path/), bad);
      }
    });

    await t.step('username: cleaned as a name; nothing printable is refused', async () => {
      assert.equal((await save({ username: 'adm\u202Enimda\x07\x1b[2J\u200b' })).username, 'admnimda');
      assert.equal((await save({ username: '  ada  lovelace ' })).username, 'ada lovelace');
      await assert.rejects(save({ username: '\u200b\u200b\u200b' }), refused('username', /a name must hold a printable character/));
      assert.equal((await save({ username: 'x'.repeat(1_048_576) })).username.length, 200);
    });

    await t.step('other text: no control, bidi or zero-width characters, at most 5000; line breaks are fine', async () => {
      assert.equal((await save({ bio: 'Hello\nworld 👩‍💻' })).bio, 'Hello\nworld 👩‍💻');
      for (const bad of ['evil\u202Egnp.exe', 'bell\x07', 'zero\u200bwidth', 'x'.repeat(5001)]) {
        await assert.rejects(save({ bio: bad }), refused('bio', /without control, bidi or zero-width characters/), bad);
      }
    });

    await t.step('a value the user did not change is not checked (a legacy value keeps saving)', async () => {
      await sql`update public.profiles set website = 'ada.example' where id = ${me}`;
      assert.equal((await save({ username: 'ada', website: 'ada.example' })).website, 'ada.example');
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('mapping.clean: a rule per column overrides the default; bad rules are refused naming the field', async () => {
  const db = await coreDatabase('edit_rules_map');
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  try {
    await owner.unsafe(SHAPE_A);
    const apply = (extra: Record<string, unknown>) => owner`select profile_sync.apply_mapping(${owner.json({ ...QUICKSTART_MAPPING, ...extra } as never)}) as m`;
    const fails = async (extra: Record<string, unknown>, message: RegExp) =>
      await assert.rejects(apply(extra), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '22023');
        assert.match(err.message, message);
        return true;
      });
    await fails({ clean: { updated_at: 'text' } }, /^mapping\.clean\.updated_at: updated_at is not in user_editable/);
    await fails({ clean: { website: 'html' } }, /^mapping\.clean\.website: "url", "name", "text" or "storage_path"/);
    await fails({ clean: { website: { rule: 'url', max_length: 0 } } }, /^mapping\.clean\.website\.max_length: a whole number/);
    await fails({ clean: { website: { rule: 'url', cap: 3 } } }, /^mapping\.clean\.website: only rule and max_length/);
    const [{ m }] = await apply({ clean: { website: 'text', username: { rule: 'name', max_length: 30 } } });
    assert.deepEqual([m.clean.website, m.clean.username], [{ rule: 'text', max_length: 5000 }, { rule: 'name', max_length: 30 }]);
  } finally {
    await owner.end();
    await db.drop();
  }
});
