/**
 * The mapping document normalised: the default mapping reproduces public.profiles, owners default
 * by source, constants are insert-only, and clear_on_soft_delete defaults to the personal columns.
 */
import assert from 'node:assert/strict';
import { DEFAULT_MAPPING_DOCUMENT, defaultMapping, mappingMigrationSql, normaliseMapping } from '../../cli/mapping.ts';

Deno.test('the default mapping reproduces public.profiles and its rules', () => {
  const m = defaultMapping();
  assert.equal(m.table, 'public.profiles');
  assert.equal(m.key, 'id');
  assert.deepEqual(Object.keys(m.columns), [
    'email', 'phone', 'full_name', 'avatar_url', 'role', 'provider', 'is_anonymous', 'email_confirmed_at', 'last_sign_in_at',
  ]);
  const owners = Object.fromEntries(Object.entries(m.columns).map(([c, s]) => [c, s.owner]));
  assert.deepEqual(owners, {
    email: 'auth', phone: 'auth', full_name: 'app', avatar_url: 'app', role: 'app', provider: 'auth',
    is_anonymous: 'auth', email_confirmed_at: 'auth', last_sign_in_at: 'auth',
  });
  assert.deepEqual(m.soft_delete, { at: 'deleted_at' });
  assert.deepEqual(m.clear_on_soft_delete, ['email', 'phone', 'full_name', 'avatar_url']);
  assert.deepEqual(m.user_editable, ['full_name', 'avatar_url']);
  assert.deepEqual(m.roles, { default: 'user', self_assignable: [] });
});

Deno.test('owners default by source; constants are written at insert only; an explicit owner and default stay', () => {
  const m = normaliseMapping({
    table: 'public.user_profiles',
    key: 'user_id',
    columns: {
      last_login: 'last_sign_in_at',
      sso_user_id: 'user_metadata.provider_id',
      plan: 'app_metadata.plan',
      username: { from: 'user_metadata.preferred_username', owner: 'app' },
      first_name: { from: 'user_metadata.given_name', owner: 'app', default: '' },
      full_name: { from: 'full_name' },
      role: 'role',
      password: { value: '!' },
      tier: { value: 1, owner: 'app' },
    },
  });
  assert.deepEqual(m.columns, {
    last_login: { from: 'last_sign_in_at', owner: 'auth' },
    sso_user_id: { from: 'user_metadata.provider_id', owner: 'auth' },
    plan: { from: 'app_metadata.plan', owner: 'auth' },
    username: { from: 'user_metadata.preferred_username', owner: 'app' },
    first_name: { from: 'user_metadata.given_name', owner: 'app', default: '' },
    full_name: { from: 'full_name', owner: 'app' },
    role: { from: 'role', owner: 'app' },
    password: { value: '!', owner: 'insert' },
    tier: { value: 1, owner: 'app' },
  });
  // as apply_mapping fills them: no soft delete without a deleted_at column (public.profiles has one);
  // the personal columns cleared; the default's user-editable columns where they are mapped and app-owned
  assert.equal(m.soft_delete, null);
  assert.deepEqual(m.clear_on_soft_delete, ['sso_user_id', 'username', 'first_name', 'full_name']);
  assert.deepEqual(m.user_editable, ['full_name']);
  assert.deepEqual(m.roles, { default: 'user', self_assignable: [] });
  assert.deepEqual(normaliseMapping({ table: 'public.x', columns: {} }, ['id', 'deleted_at']).soft_delete, { at: 'deleted_at' });
});

Deno.test('clear_on_soft_delete defaults to the mapped personal columns (email, phone, names, avatars, user metadata)', () => {
  const m = normaliseMapping({
    table: 'app.members',
    columns: { email: 'email', nick: 'user_metadata.nickname', plan: 'app_metadata.plan', provider: 'provider', avatar: 'avatar_url' },
    soft_delete: { flag: 'is_active', at: 'deactivated_at' },
  });
  assert.deepEqual(m.soft_delete, { flag: 'is_active', active: true, at: 'deactivated_at' });
  assert.deepEqual(m.clear_on_soft_delete, ['email', 'nick', 'avatar']);
  assert.equal(m.key, 'id');
});

Deno.test('a field left out takes the default mapping\'s: {} is the default mapping', () => {
  assert.deepEqual(normaliseMapping({}), defaultMapping());
  const m = normaliseMapping({ columns: { email: 'email' } });
  assert.deepEqual([m.table, m.key, m.soft_delete, m.user_editable], ['public.profiles', 'id', { at: 'deleted_at' }, []]);
});

Deno.test('normalising twice changes nothing, and the default document normalises to the default mapping', () => {
  const once = defaultMapping();
  assert.deepEqual(normaliseMapping(JSON.parse(JSON.stringify(once))), once);
  assert.deepEqual(normaliseMapping(DEFAULT_MAPPING_DOCUMENT), once);
});

Deno.test('the mapping migration is one apply_mapping call on the document, pretty-printed, as a quoted literal', () => {
  const doc = { table: 'public.user_profiles', key: 'user_id', columns: { role: 'role' } };
  const sql = mappingMigrationSql(doc);
  const match = /\nselect profile_sync\.apply_mapping\('([\s\S]*)'::jsonb\);\n$/.exec(sql);
  assert.ok(match, sql);
  assert.deepEqual(JSON.parse(match[1]), doc);
  assert.ok(match[1].includes('\n  "table": "public.user_profiles"'));
  assert.match(sql, /^-- /);
});
