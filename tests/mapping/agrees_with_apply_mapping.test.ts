/**
 * The two validators agree: for each mapping of user_profiles (shape C), what `init`/`generate`
 * say before writing a migration (the zod document, then the check against the live table) is
 * what apply_mapping says when the migration runs (profile_sync.normalise_mapping: SQLSTATE
 * 22023 naming the field). A mapping one accepts and the other refuses would be a migration
 * that fails at `db push`, or a refusal of one that works.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { describeTable } from '../../cli/install/database.ts';
import type { Db } from '../../cli/install/database.ts';
import { checkMappingAgainstTable } from '../../cli/mapping-table.ts';
import { parseMapping } from '../../cli/mapping.ts';
import { SHAPE_C } from '../helpers/adoption_shapes.mjs';
import { coreDatabase } from '../helpers/db.ts';

const good = {
  table: 'public.user_profiles',
  key: 'user_id',
  columns: { role: 'role', last_login: 'last_sign_in_at', sso_provider: 'provider', sso_user_id: 'user_metadata.provider_id' },
  soft_delete: { flag: 'is_active', active: true, at: 'deactivated_at' },
  user_editable: [],
};

const CASES: [string, unknown][] = [
  ['the proposal', good],
  ['an unknown column', { ...good, columns: { ...good.columns, nickname: 'user_metadata.nickname' } }],
  ['the role user-editable', { ...good, user_editable: ['role'] }],
  ['an auth-owned column user-editable', { ...good, user_editable: ['last_login'] }],
  ['a column the mapping leaves alone user-editable', { ...good, user_editable: ['deactivation_reason'] }],
  ['an unknown user-editable column', { ...good, user_editable: ['bio'] }],
  ['a key without a unique constraint', { ...good, key: 'deactivated_by' }],
  ['the table\'s own id as the key, beside a user_id referencing auth.users', { ...good, key: 'id' }],
  ['a text source into a timestamp', { ...good, columns: { ...good.columns, last_login: 'email' } }],
  ['a timestamp source into text', { ...good, columns: { ...good.columns, sso_provider: 'last_sign_in_at' } }],
  ['metadata into a timestamp', { ...good, columns: { ...good.columns, last_login: 'user_metadata.seen' } }],
  ['metadata into a uuid', { ...good, columns: { ...good.columns, deactivated_by: 'app_metadata.by' } }],
  ['a default that is not a timestamp', { ...good, columns: { ...good.columns, last_login: { from: 'last_sign_in_at', default: 'soon' } } }],
  ['a default timestamp', { ...good, columns: { ...good.columns, last_login: { from: 'last_sign_in_at', default: '2020-01-01T00:00:00Z' } } }],
  ['a constant that is not a uuid', { ...good, columns: { ...good.columns, deactivated_by: { value: 'nobody' } } }],
  ['a constant uuid', { ...good, columns: { ...good.columns, deactivated_by: { value: '00000000-0000-0000-0000-000000000001' } } }],
  ['a number into text', { ...good, columns: { ...good.columns, deactivation_reason: { value: 42 } } }],
  ['a constant', { ...good, columns: { ...good.columns, deactivation_reason: { value: 'none yet' } } }],
  ['a flag that is not boolean', { ...good, soft_delete: { flag: 'role', active: true } }],
  ['a soft-delete timestamp that is text', { ...good, soft_delete: { at: 'sso_user_id' } }],
  ['clearing an unmapped column', { ...good, clear_on_soft_delete: ['deactivation_reason'] }],
  ['clearing a mapped one', { ...good, clear_on_soft_delete: ['sso_user_id'] }],
  ['the key mapped as a column', { ...good, columns: { ...good.columns, user_id: 'email' } }],
  ['a table that does not exist', { ...good, table: 'public.members' }],
  ['an unknown source', { ...good, columns: { ...good.columns, role: 'raw_user_meta_data.role' } }],
  ['a bad owner', { ...good, columns: { ...good.columns, role: { from: 'role', owner: 'user' } } }],
  ['an unknown field', { ...good, soft_delet: null }],
  ['the role into an enum', { ...good, columns: { ...good.columns, tier: 'role' } }],
  ['a text source into an enum', { ...good, columns: { ...good.columns, tier: 'user_metadata.tier' } }],
  ['a timestamp into an enum', { ...good, columns: { ...good.columns, tier: 'last_sign_in_at' } }],
  ['a bad role name', { ...good, roles: { default: 'has space' } }],
];

Deno.test('init/generate and apply_mapping accept and refuse the same mappings', async () => {
  const db = await coreDatabase('mapping_agrees');
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    await owner.unsafe(SHAPE_C);
    await owner.unsafe(`create type public.tier as enum ('free', 'pro'); alter table public.user_profiles add column tier public.tier`);
    const disagreements: string[] = [];
    for (const [what, doc] of CASES) {
      const parsed = parseMapping(doc);
      let ts: string[] = parsed.ok ? [] : parsed.errors;
      if (parsed.ok) {
        const info = await describeTable(owner as unknown as Db, parsed.mapping.table);
        ts = info ? checkMappingAgainstTable(parsed.mapping, info) : [`table: ${parsed.mapping.table} does not exist`];
      }
      const sql = await owner`select profile_sync.normalise_mapping(${owner.json(doc as never)})`
        .then(() => '', (err) => `${err.code}: ${err.message}`);
      if (sql !== '' && !sql.startsWith('22023')) throw new Error(`${what}: ${sql}`);
      if ((ts.length === 0) !== (sql === '')) {
        disagreements.push(`${what}: zod/table check ${ts.length === 0 ? 'accepts' : `refuses (${ts[0]})`}, apply_mapping ${sql === '' ? 'accepts' : `refuses (${sql})`}`);
      }
    }
    assert.deepEqual(disagreements, []);
  } finally {
    await owner.end();
    await db.drop();
  }
});
