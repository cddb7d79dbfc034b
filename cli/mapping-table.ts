/**
 * A mapping and the table a project already has, described from its catalog (columns, types,
 * nullability, defaults, unique constraints, foreign keys to auth.users): proposeMapping guesses
 * the key, the obvious columns by name, soft delete and what still needs a source (`profile-sync
 * init --db-url` writes it to supabase/profile-sync.json for review); checkMappingAgainstTable
 * says what in a mapping the table cannot take, before a migration tries.
 * @module
 */
import { defaultOwner, softDeleteColumns, TODO_SOURCE } from './mapping.ts';
import type { ColumnSpec, Json, Mapping, MappingDocument, Owner, Scalar } from './mapping.ts';

export type TableColumn = {
  name: string;
  /** information_schema data_type, or the type's name for user-defined types (e.g. an enum). */
  type: string;
  nullable: boolean;
  /** column_default as Postgres prints it (`'user'::text`, `now()`), or null. */
  default: string | null;
  /** identity or generated column: never written. */
  generated?: boolean;
  /** an enum type: takes a text source (only its labels; anything else is null) or the role. */
  enum?: boolean;
};

export type TableInfo = {
  schema: string;
  name: string;
  columns: TableColumn[];
  primaryKey: string[];
  /** single- or multi-column unique constraints and unique indexes (primary key included or not). */
  unique: string[][];
  /** columns with a foreign key to auth.users(id). */
  authUserReferences: string[];
};

export type Proposal = {
  mapping: MappingDocument & { columns: Record<string, ColumnSpec> };
  key: { column: string; reason: string };
  /** NOT NULL columns without a default that nothing can fill: the file holds TODO_SOURCE for them. */
  needsSource: { column: string; type: string }[];
  /** What the proposal guessed or left alone, for the team to review. */
  notes: string[];
};

type Guess = { from: string; owner?: Owner };

/** Column name → source, for the names projects use; the first match wins. */
const BY_NAME: [RegExp, Guess][] = [
  [/^(email|email_address)$/, { from: 'email' }],
  [/^(phone|phone_number)$/, { from: 'phone' }],
  [/^(full_name|name|display_name|fullname)$/, { from: 'full_name' }],
  [/^(avatar_url|avatar|picture|photo_url|image_url)$/, { from: 'avatar_url' }],
  [/^role$/, { from: 'role' }],
  [/^(provider|sso_provider|auth_provider)$/, { from: 'provider' }],
  [/^(sso_user_id|provider_id)$/, { from: 'user_metadata.provider_id' }],
  [/^(last_sign_in_at|last_sign_in|last_login|last_login_at)$/, { from: 'last_sign_in_at' }],
  [/^(email_confirmed_at|email_verified_at)$/, { from: 'email_confirmed_at' }],
  [/^is_anonymous$/, { from: 'is_anonymous' }],
  [/^banned_until$/, { from: 'banned_until' }],
  [/^(username|user_name|handle)$/, { from: 'user_metadata.preferred_username', owner: 'app' }],
  [/^(first_name|given_name)$/, { from: 'user_metadata.given_name', owner: 'app' }],
  [/^(last_name|family_name)$/, { from: 'user_metadata.family_name', owner: 'app' }],
];
/** Unmapped columns that hold what a user writes about themselves: proposed as user-editable. */
const PROFILE_CONTENT = /^(website|bio|about|location|pronouns|timezone|locale|company|headline)$/;
const TEXT = /^(text|character varying|character|citext)$/;
const TIMESTAMP = /^timestamp/;
const NUMBER = /^(smallint|integer|bigint|numeric|real|double precision)$/;
const PERSONAL = new Set(['email', 'phone', 'full_name', 'avatar_url']);
/** Sources that are never null: everything else may be (no phone, no metadata key, …). */
const NEVER_NULL = new Set(['is_anonymous', 'created_at', 'updated_at', 'role']);

const unquote = (literal: string): string | undefined => /^'((?:[^']|'')*)'(::.*)?$/.exec(literal)?.[1]?.replaceAll("''", "'");

/** Whether a source can fill a column of this type: the rules apply_mapping compiles by. */
function typeFits(from: string, type: string, isEnum = false): boolean {
  if (isEnum) return typeFits(from, 'text');
  if (/^(user|app)_metadata\./.test(from)) {
    // metadata values are converted to the column's type when synced; one that does not convert is null
    return TEXT.test(type) || NUMBER.test(type) || ['jsonb', 'boolean', 'uuid'].includes(type);
  }
  if (from === 'is_anonymous') return type === 'boolean';
  if (['email_confirmed_at', 'last_sign_in_at', 'banned_until', 'created_at', 'updated_at'].includes(from)) {
    return TIMESTAMP.test(type);
  }
  return TEXT.test(type);
}

function chooseKey(t: TableInfo): { column: string; reason: string } {
  const referencing = t.authUserReferences.filter((c) => uniqueAlone(t, c));
  if (referencing.length > 0) {
    const column = referencing.includes('id') ? 'id' : referencing.includes('user_id') ? 'user_id' : referencing[0];
    return { column, reason: `${column} references auth.users(id) and is unique` };
  }
  for (const column of ['id', 'user_id']) {
    const c = t.columns.find((col) => col.name === column);
    if (c && c.type === 'uuid' && uniqueAlone(t, column) && (column === 'user_id' || c.default === null)) {
      return { column, reason: `${column} is a unique uuid (it has no foreign key to auth.users: consider adding one)` };
    }
  }
  return { column: 'id', reason: 'no column references auth.users(id) with a unique constraint: check "key"' };
}

/** Soft delete from the columns a table has: is_active (+ deactivated_at), deleted_at, or none. */
function chooseSoftDelete(byName: Map<string, TableColumn>): MappingDocument['soft_delete'] {
  const ts = (name: string) => byName.has(name) && TIMESTAMP.test(byName.get(name)!.type);
  const flag = ['is_active', 'active'].find((n) => byName.get(n)?.type === 'boolean');
  const at = ['deactivated_at', 'deleted_at', 'disabled_at'].find(ts);
  if (flag) return { flag, active: true, ...(at ? { at } : {}) };
  if (byName.get('is_deleted')?.type === 'boolean') return { flag: 'is_deleted', active: false, ...(at ? { at } : {}) };
  return at ? { at } : null;
}

/** Proposes a mapping for an existing table; see Proposal. */
export function proposeMapping(t: TableInfo): Proposal {
  const notes: string[] = [];
  const key = chooseKey(t);
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const softDelete = chooseSoftDelete(byName);
  const softColumns = softDelete ? ['flag' in softDelete ? softDelete.flag : '', softDelete.at ?? ''] : [];
  const columns: Record<string, ColumnSpec> = {};
  const sources = new Map<string, string>();
  const needsSource: Proposal['needsSource'] = [];
  const userEditable: string[] = [];
  let defaultRole = 'user';

  for (const c of t.columns) {
    if (c.name === key.column || softColumns.includes(c.name) || c.generated) continue;
    const mandatory = !c.nullable && c.default === null;
    let guess = BY_NAME.find(([re]) => re.test(c.name.toLowerCase()))?.[1];
    if (!guess && ['created_at', 'updated_at'].includes(c.name) && c.default === null) guess = { from: c.name };
    if (guess && !typeFits(guess.from, c.type, c.enum)) {
      notes.push(`${c.name} (${c.type}) looks like ${guess.from} but its type does not fit: left unmapped`);
      guess = undefined;
    }
    if (!guess) {
      if (mandatory) {
        columns[c.name] = TODO_SOURCE;
        needsSource.push({ column: c.name, type: c.type });
      } else if (PROFILE_CONTENT.test(c.name)) userEditable.push(c.name);
      continue;
    }
    const owner = guess.owner ?? defaultOwner(guess.from);
    sources.set(c.name, guess.from);
    const nullableSource = !NEVER_NULL.has(guess.from);
    let fallback: Scalar | undefined;
    if (mandatory && nullableSource) {
      if (TEXT.test(c.type)) {
        fallback = '';
        notes.push(`${c.name} is NOT NULL without a default and ${guess.from} can be empty: proposed "default": ""`);
      } else {
        columns[c.name] = TODO_SOURCE;
        needsSource.push({ column: c.name, type: c.type });
        continue;
      }
    }
    const isDefaultOwner = owner === defaultOwner(guess.from);
    columns[c.name] = isDefaultOwner && fallback === undefined
      ? guess.from
      : { from: guess.from, ...(isDefaultOwner ? {} : { owner }), ...(fallback !== undefined ? { default: fallback } : {}) };
    if (guess.from === 'role') defaultRole = (c.default && unquote(c.default)) || 'user';
    if (owner === 'app' && guess.from !== 'role') userEditable.push(c.name);
  }

  const left = t.columns.filter((c) => !(c.name in columns) && c.name !== key.column && !softColumns.includes(c.name))
    .map((c) => c.name);
  if (left.length > 0) notes.push(`left alone (profile-sync never reads or writes them): ${left.join(', ')}`);
  const clear = softDelete
    ? [...sources].filter(([c, from]) =>
      c in columns && byName.get(c)!.nullable && (PERSONAL.has(from) || from.startsWith('user_metadata.'))
    ).map(([c]) => c)
    : [];
  const mapping: Proposal['mapping'] = {
    table: `${t.schema}.${t.name}`,
    key: key.column,
    columns,
    soft_delete: softDelete,
    ...(softDelete ? { clear_on_soft_delete: clear } : {}),
    user_editable: userEditable,
    roles: { default: defaultRole, self_assignable: [] },
  };
  return { mapping, key, needsSource, notes };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMP_WORDS = /^(now|today|tomorrow|yesterday|epoch|-?infinity)$/i;
const BOOLEAN_WORDS = /^(t|f|true|false|y|n|yes|no|on|off|1|0)$/i;

/** Whether a constant casts to the column's type, as apply_mapping checks by casting it. */
function valueFits(value: Json | Scalar, type: string): boolean {
  if (type === 'json' || type === 'jsonb' || value === null) return true;
  if (typeof value === 'boolean') return type === 'boolean' || TEXT.test(type);
  if (typeof value === 'number') return NUMBER.test(type) || TEXT.test(type);
  if (typeof value !== 'string') return false;
  if (NUMBER.test(type)) return /^\s*-?\d+(\.\d+)?\s*$/.test(value);
  if (type === 'uuid') return UUID.test(value.trim());
  if (type === 'boolean') return BOOLEAN_WORDS.test(value.trim());
  if (TIMESTAMP.test(type) || type === 'date') return TIMESTAMP_WORDS.test(value.trim()) || !Number.isNaN(Date.parse(value));
  return true;
}

const uniqueAlone = (t: TableInfo, c: string) =>
  t.unique.some((u) => u.length === 1 && u[0] === c) || (t.primaryKey.length === 1 && t.primaryKey[0] === c);

/** What the table cannot take from this mapping, one `field: problem` line each; empty when it fits. */
export function checkMappingAgainstTable(m: Mapping, t: TableInfo): string[] {
  const errors: string[] = [];
  const table = `${t.schema}.${t.name}`;
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const missing = (field: string, c: string) => errors.push(`${field}: ${table} has no column ${c}`);
  const key = byName.get(m.key);
  if (!key) missing('key', m.key);
  else if (key.type !== 'uuid') {
    errors.push(`key: ${m.key} is ${key.type}; it must be uuid (it holds auth.users.id; a text column holding uuids ` +
      `converts with: alter table ${table} alter column ${m.key} type uuid using ${m.key}::uuid)`);
  }
  else if (!uniqueAlone(t, m.key)) {
    errors.push(`key: ${m.key} has no unique constraint in ${table}: add one (\`alter table ${table} add unique (${m.key})\`)`);
  } else if (!t.authUserReferences.includes(m.key)) {
    // the table's own id beside a user_id that references auth.users: name the right column
    const holder = t.authUserReferences.find((c) => c !== m.key && uniqueAlone(t, c));
    if (holder) errors.push(`key: ${m.key} does not reference auth.users, but ${holder} does (and is unique): set "key": "${holder}"`);
  }
  for (const [name, source] of Object.entries(m.columns)) {
    const c = byName.get(name);
    const field = `columns.${name}`;
    if (!c) {
      missing(field, name);
      continue;
    }
    if (c.generated) errors.push(`${field}: ${name} is an identity or generated column; it cannot be written`);
    else if ('value' in source) {
      if (!valueFits(source.value, c.type)) errors.push(`${field}: ${JSON.stringify(source.value)} does not fit ${name} (${c.type})`);
    } else if (!typeFits(source.from, c.type, c.enum)) {
      errors.push(`${field}: ${source.from} does not fit ${name} (${c.type})`);
    } else if (source.default !== undefined && !valueFits(source.default, c.type)) {
      errors.push(`${field}.default: ${JSON.stringify(source.default)} does not fit ${name} (${c.type})`);
    } else if (!c.nullable && c.default === null && source.default === undefined && !NEVER_NULL.has(source.from)) {
      errors.push(`${field}: ${source.from} can be empty but ${name} is NOT NULL without a default: give it a "default"`);
    }
  }
  const soft = softDeleteColumns(m.soft_delete);
  for (const c of t.columns) {
    if (c.name === m.key || c.name in m.columns || soft.includes(c.name) || c.generated) continue;
    if (!c.nullable && c.default === null) {
      errors.push(`columns.${c.name}: ${c.name} is NOT NULL without a default, so the mapping must fill it: map it to a source or {"value": …}`);
    }
  }
  if (m.soft_delete) {
    if ('flag' in m.soft_delete) {
      const flag = byName.get(m.soft_delete.flag);
      if (!flag) missing('soft_delete.flag', m.soft_delete.flag);
      else if (flag.type !== 'boolean') errors.push(`soft_delete.flag: ${flag.name} is ${flag.type}, not boolean`);
    }
    const at = m.soft_delete.at ? byName.get(m.soft_delete.at) : undefined;
    if (m.soft_delete.at && !at) missing('soft_delete.at', m.soft_delete.at);
    else if (at && !TIMESTAMP.test(at.type)) errors.push(`soft_delete.at: ${at.name} is ${at.type}, not a timestamp`);
  }
  m.clear_on_soft_delete.forEach((name, i) => {
    const c = byName.get(name);
    const source = m.columns[name];
    if (c && !c.nullable && c.default === null && !(source && 'from' in source && source.default !== undefined)) {
      errors.push(`clear_on_soft_delete[${i}]: ${name} is NOT NULL without a default to clear it to (give it a "default")`);
    }
  });
  m.user_editable.forEach((name, i) => {
    if (!byName.has(name)) missing(`user_editable[${i}]`, name);
  });
  return errors;
}
