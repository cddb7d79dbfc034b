/**
 * proposeMapping on the shapes projects have (../shared/reference/adoption-shapes.sql, as the
 * catalog describes them): the key, the obvious columns, soft delete, the default role, what is
 * user-editable, and what still needs a source. Every complete proposal validates.
 */
import assert from 'node:assert/strict';
import { defaultMapping, normaliseMapping, parseMapping, TODO_SOURCE } from '../../cli/mapping.ts';
import { proposeMapping } from '../../cli/mapping-table.ts';
import type { TableColumn, TableInfo } from '../../cli/mapping-table.ts';
import { QUICKSTART_PROPOSAL } from '../install/shapes.ts';

const col = (name: string, type: string, nullable = true, def: string | null = null): TableColumn => ({ name, type, nullable, default: def });

const quickstart: TableInfo = {
  schema: 'public', name: 'profiles',
  columns: [
    col('id', 'uuid', false), col('updated_at', 'timestamp with time zone'), col('username', 'text'),
    col('full_name', 'text'), col('avatar_url', 'text'), col('website', 'text'),
  ],
  primaryKey: ['id'], unique: [['username']], authUserReferences: ['id'],
};

const nextUsers: TableInfo = {
  schema: 'public', name: 'users',
  columns: [
    col('id', 'uuid', false), col('email', 'text'), col('full_name', 'text'),
    col('role', 'text', false, "'client'::text"),
    col('created_at', 'timestamp with time zone', false, 'now()'), col('updated_at', 'timestamp with time zone', false, 'now()'),
  ],
  primaryKey: ['id'], unique: [], authUserReferences: ['id'],
};

const userProfiles: TableInfo = {
  schema: 'public', name: 'user_profiles',
  columns: [
    col('id', 'uuid', false, 'gen_random_uuid()'), col('user_id', 'uuid'),
    col('role', 'character varying', false, "'user'::character varying"), col('is_active', 'boolean', true, 'true'),
    col('last_login', 'timestamp with time zone'), col('deactivated_at', 'timestamp with time zone'),
    col('deactivated_by', 'uuid'), col('deactivation_reason', 'character varying'), col('sso_provider', 'character varying'),
    col('sso_user_id', 'character varying'), col('created_at', 'timestamp with time zone', true, 'now()'),
    col('updated_at', 'timestamp with time zone', true, 'now()'),
  ],
  primaryKey: ['id'], unique: [['user_id']], authUserReferences: ['user_id', 'deactivated_by'],
};

Deno.test('shape A (quickstart profiles): key id; username (unique) only suggested, updated_at the app\'s, website user-editable', () => {
  const p = proposeMapping(quickstart);
  assert.equal(p.key.column, 'id');
  assert.deepEqual(p.mapping.columns, QUICKSTART_PROPOSAL.columns);
  assert.deepEqual(p.mapping.user_editable, QUICKSTART_PROPOSAL.user_editable);
  assert.deepEqual(Object.keys(p.suggestions), ['username']);
  assert.match(p.suggestions.username.why, /it is unique/);
  assert.match(p.reasons.updated_at, /app-owned/);
  assert.match(p.reasons.full_name, /nullable and unconstrained/);
  assert.deepEqual(p.needsSource, []);
  assert.ok(parseMapping(p.mapping).ok);
});

Deno.test("shape B (public.users): email, full_name and role mapped, the role column's default becomes the default role", () => {
  const p = proposeMapping(nextUsers);
  assert.deepEqual(p.mapping.columns, { email: 'email', full_name: 'full_name', role: 'role' });
  assert.deepEqual(p.mapping.roles, { default: 'client', self_assignable: [] });
  assert.deepEqual(p.mapping.user_editable, ['full_name']);
  assert.equal(p.mapping.soft_delete, null);
  assert.match(p.notes.join('\n'), /left alone .*: created_at, updated_at/);
});

Deno.test('shape C (user_profiles): key user_id (the unique reference), is_active + deactivated_at soft delete, last_login, sso_provider', () => {
  const p = proposeMapping(userProfiles);
  assert.deepEqual(p.key, { column: 'user_id', reason: 'user_id references auth.users(id) and is unique' });
  const m = normaliseMapping(p.mapping);
  assert.deepEqual(m.columns, {
    role: { from: 'role', owner: 'app' },
    last_login: { from: 'last_sign_in_at', owner: 'auth' },
    sso_provider: { from: 'provider', owner: 'auth' },
    sso_user_id: { from: 'user_metadata.provider_id', owner: 'auth' },
  });
  assert.deepEqual(m.soft_delete, { flag: 'is_active', active: true, at: 'deactivated_at' });
  assert.deepEqual(m.user_editable, []);
  assert.equal(m.roles.default, 'user');
  // deactivated_by references auth.users too, but is not unique: never the key, never touched
  assert.match(p.notes.join('\n'), /left alone .*deactivated_by, deactivation_reason/);
});

Deno.test("profile-sync's own public.profiles is proposed back as the default mapping", () => {
  const p = proposeMapping({
    schema: 'public', name: 'profiles',
    columns: [
      col('id', 'uuid', false), col('email', 'text'), col('phone', 'text'), col('full_name', 'text'), col('avatar_url', 'text'),
      col('role', 'text', false, "'user'::text"), col('provider', 'text'), col('is_anonymous', 'boolean', false, 'false'),
      col('email_confirmed_at', 'timestamp with time zone'), col('last_sign_in_at', 'timestamp with time zone'),
      col('created_at', 'timestamp with time zone', false, 'now()'), col('updated_at', 'timestamp with time zone', false, 'now()'),
      col('deleted_at', 'timestamp with time zone'),
    ],
    primaryKey: ['id'], unique: [], authUserReferences: ['id'],
  });
  assert.deepEqual(normaliseMapping(p.mapping), defaultMapping());
});

Deno.test('an ORM table: NOT NULL columns without a default and without a source are named and hold the placeholder', () => {
  const p = proposeMapping({
    schema: 'app', name: 'accounts',
    columns: [
      col('id', 'bigint', false, "nextval('app.accounts_id_seq'::regclass)"), col('auth_id', 'uuid', false),
      col('tenant_id', 'uuid', false), col('display_name', 'text', false), col('email', 'citext', false),
      col('last_login_at', 'timestamp without time zone', false), col('status', 'text', false, "'active'::text"),
    ],
    primaryKey: ['id'], unique: [['auth_id'], ['email', 'tenant_id']], authUserReferences: ['auth_id'],
  });
  assert.equal(p.key.column, 'auth_id');
  assert.deepEqual(p.needsSource, [{ column: 'tenant_id', type: 'uuid' }, { column: 'last_login_at', type: 'timestamp without time zone' }]);
  assert.equal(p.mapping.columns.tenant_id, TODO_SOURCE);
  // a NOT NULL text column with a source that can be empty gets "" as its default
  assert.deepEqual(p.mapping.columns.display_name, { from: 'full_name', default: '' });
  assert.deepEqual(p.mapping.columns.email, { from: 'email', default: '' });
  const result = parseMapping(p.mapping);
  assert.equal(result.ok, false);
  assert.deepEqual((result as { errors: string[] }).errors.map((e) => e.split(':')[0]), ['columns.tenant_id', 'columns.last_login_at']);
});

Deno.test('without a reference to auth.users, a unique uuid user_id is the key; a name whose type does not fit is left unmapped', () => {
  const p = proposeMapping({
    schema: 'public', name: 'members',
    columns: [col('id', 'integer', false, "nextval('members_id_seq'::regclass)"), col('user_id', 'uuid', false), col('email', 'boolean'), col('deleted_at', 'timestamp with time zone')],
    primaryKey: ['id'], unique: [['user_id']], authUserReferences: [],
  });
  assert.equal(p.key.column, 'user_id');
  assert.match(p.key.reason, /no foreign key to auth\.users/);
  assert.deepEqual(p.mapping.columns, {});
  assert.deepEqual(p.mapping.soft_delete, { at: 'deleted_at' });
  assert.match(p.notes.join('\n'), /email \(boolean\) looks like email but its type does not fit/);
});

Deno.test("an enum role column is mapped, its default label the default role; a timestamp's name on an enum is not", () => {
  const p = proposeMapping({
    schema: 'public', name: 'members',
    columns: [
      col('id', 'uuid', false), { ...col('role', 'USER-DEFINED', false, "'member'::member_role"), enum: true },
      { ...col('last_login', 'USER-DEFINED'), enum: true },
    ],
    primaryKey: ['id'], unique: [], authUserReferences: ['id'],
  });
  assert.deepEqual(p.mapping.columns, { role: 'role' });
  assert.deepEqual(p.mapping.roles, { default: 'member', self_assignable: [] });
});
