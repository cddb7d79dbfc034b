/**
 * A mapping and the table a project already has, described from its catalog (columns, types,
 * nullability, defaults, unique constraints, foreign keys to auth.users): proposeMapping guesses
 * the key, the obvious columns by name, soft delete and what still needs a source (`profile-sync
 * init --db-url` writes it to supabase/profile-sync.json for review). Whether a mapping fits the
 * table is apply_mapping's to say (cli/install/live.ts), not this module's.
 * @module
 */
import { defaultOwner, TODO_SOURCE } from './mapping.ts';
import type { ColumnSpec, MappingDocument, Owner, Scalar } from './mapping.ts';

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
  /** CHECK constraints: name and the columns each reads. */
  checks?: { name: string; columns: string[] }[];
  /** columns the table's own triggers set (`new.updated_at := now()`), each with the trigger's name. */
  appMaintained?: Record<string, string>;
  /** the pasted triggers on auth.users that insert into this table: the function and the columns it sets. */
  pasted?: { fn: string; columns: string[] }[];
};

/** A column a mapping could fill but whose mapping could make a signup's row fail: proposed commented out. */
export type Suggestion = { column: ColumnSpec; why: string };

export type Proposal = {
  mapping: MappingDocument & { columns: Record<string, ColumnSpec>; suggestions?: Record<string, Suggestion> };
  key: { column: string; reason: string };
  /** NOT NULL columns without a default that nothing can fill: the file holds TODO_SOURCE for them. */
  needsSource: { column: string; type: string }[];
  /** What the proposal guessed or left alone, for the team to review. */
  notes: string[];
  /** Per column of the table: why it is mapped, suggested, or left alone. */
  reasons: Record<string, string>;
  /** Columns not mapped because their mapping could make a signup's row fail (also in mapping.suggestions). */
  suggestions: Record<string, Suggestion>;
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

/**
 * Why mapping column c could make a signup's row fail (a unique or CHECK constraint; NOT NULL
 * without a default, where the source can be empty), or undefined when it cannot.
 */
function risk(t: TableInfo, c: TableColumn, from: string): string | undefined {
  const why: string[] = [];
  if (uniqueAlone(t, c.name) || t.unique.some((u) => u.includes(c.name))) why.push('it is unique (a value another user has fails the row)');
  const checks = (t.checks ?? []).filter((k) => k.columns.includes(c.name)).map((k) => k.name);
  if (checks.length > 0) why.push(`CHECK ${checks.join(', ')} (a value it refuses fails the row)`);
  if (!c.nullable && c.default === null && !NEVER_NULL.has(from)) why.push(`it is NOT NULL without a default and ${from} can be empty`);
  return why.length > 0 ? why.join('; ') : undefined;
}

/**
 * Proposes a mapping for an existing table, conservatively: what the pasted trigger it replaces
 * set, columns that must be filled (NOT NULL without a default), and columns that cannot make a
 * signup's row fail (nullable, unconstrained). A column whose mapping could fail the row is a
 * suggestion, with the reason; one the app's own triggers maintain (updated_at) is the app's.
 */
export function proposeMapping(t: TableInfo): Proposal {
  const notes: string[] = [];
  const reasons: Record<string, string> = {};
  const suggestions: Record<string, Suggestion> = {};
  const key = chooseKey(t);
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const softDelete = chooseSoftDelete(byName);
  const softColumns = softDelete ? ['flag' in softDelete ? softDelete.flag : '', softDelete.at ?? ''] : [];
  const columns: Record<string, ColumnSpec> = {};
  const sources = new Map<string, string>();
  const needsSource: Proposal['needsSource'] = [];
  const userEditable: string[] = [];
  const pastedBy = (name: string) => (t.pasted ?? []).find((p) => p.columns.includes(name))?.fn;
  let defaultRole = 'user';

  for (const c of t.columns) {
    if (c.name === key.column) {
      reasons[c.name] = `the key: ${key.reason}`;
      continue;
    }
    if (softColumns.includes(c.name)) {
      reasons[c.name] = 'soft delete: set when the auth user is soft-deleted';
      continue;
    }
    if (c.generated) {
      reasons[c.name] = 'identity or generated: never written';
      continue;
    }
    const mandatory = !c.nullable && c.default === null;
    const maintainer = t.appMaintained?.[c.name];
    if (!mandatory && (maintainer || c.name === 'updated_at')) {
      reasons[c.name] = maintainer
        ? `app-owned: the table's trigger ${maintainer} sets it`
        : 'app-owned: the app\'s own "last edited" time, never overwritten from auth';
      continue;
    }
    let guess = BY_NAME.find(([re]) => re.test(c.name.toLowerCase()))?.[1];
    if (!guess && c.name === 'created_at' && c.default === null) guess = { from: c.name };
    if (guess && !typeFits(guess.from, c.type, c.enum)) {
      notes.push(`${c.name} (${c.type}) looks like ${guess.from} but its type does not fit: left unmapped`);
      reasons[c.name] = `left alone: looks like ${guess.from}, but its type ${c.type} does not fit`;
      guess = undefined;
    }
    if (!guess) {
      if (mandatory) {
        columns[c.name] = TODO_SOURCE;
        needsSource.push({ column: c.name, type: c.type });
        reasons[c.name] = 'NOT NULL without a default, and nothing in auth fills it: needs a source';
      } else if (PROFILE_CONTENT.test(c.name)) {
        userEditable.push(c.name);
        reasons[c.name] = 'left alone, user-editable: what a user writes about themselves';
      } else reasons[c.name] = 'left alone: nothing in auth fills it';
      continue;
    }
    const owner = guess.owner ?? defaultOwner(guess.from);
    const nullableSource = !NEVER_NULL.has(guess.from);
    let fallback: Scalar | undefined;
    if (mandatory && nullableSource) {
      if (TEXT.test(c.type)) {
        fallback = '';
        notes.push(`${c.name} is NOT NULL without a default and ${guess.from} can be empty: proposed "default": ""`);
      } else {
        columns[c.name] = TODO_SOURCE;
        needsSource.push({ column: c.name, type: c.type });
        reasons[c.name] = `NOT NULL without a default, and ${guess.from} can be empty: needs a source that is never empty`;
        continue;
      }
    }
    const isDefaultOwner = owner === defaultOwner(guess.from);
    const spec: ColumnSpec = isDefaultOwner && fallback === undefined
      ? guess.from
      : { from: guess.from, ...(isDefaultOwner ? {} : { owner }), ...(fallback !== undefined ? { default: fallback } : {}) };
    const pasted = pastedBy(c.name);
    const danger = risk(t, c, guess.from);
    if (!pasted && !mandatory && danger) {
      suggestions[c.name] = { column: spec, why: `not mapped: ${danger}; the trigger it replaces never set it` };
      reasons[c.name] = `suggested, not mapped: ${danger}`;
      if (owner === 'app') userEditable.push(c.name);
      continue;
    }
    columns[c.name] = spec;
    sources.set(c.name, guess.from);
    reasons[c.name] = `${guess.from}: ` + (pasted
      ? `the trigger it replaces (${pasted}) set it`
      : mandatory
      ? 'NOT NULL without a default: every row needs it'
      : 'nullable and unconstrained, so it cannot make a signup\'s row fail');
    if (guess.from === 'role') defaultRole = (c.default && unquote(c.default)) || 'user';
    if (owner === 'app' && guess.from !== 'role') userEditable.push(c.name);
  }

  const left = t.columns.filter((c) =>
    !(c.name in columns) && !(c.name in suggestions) && c.name !== key.column && !softColumns.includes(c.name)
  ).map((c) => c.name);
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
    ...(Object.keys(suggestions).length > 0 ? { suggestions } : {}),
  };
  return { mapping, key, needsSource, notes, reasons, suggestions };
}

const uniqueAlone = (t: TableInfo, c: string) =>
  t.unique.some((u) => u.length === 1 && u[0] === c) || (t.primaryKey.length === 1 && t.primaryKey[0] === c);
