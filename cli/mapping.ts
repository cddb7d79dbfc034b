/**
 * The mapping: which table holds the profiles, which column holds the auth id, and where each
 * mapped column comes from (DESIGN.md, "Your table, not ours"). Parsed from the JSON document a
 * project keeps in supabase/profile-sync.json, validated with errors naming the field
 * (`columns.role: …`), and normalised so every default is explicit. Only the shape is checked
 * here; every rule about the table and between fields is profile_sync.apply_mapping's
 * (supabase/schemas/35_mapping.sql), which init/generate run live (cli/install/live.ts).
 * @module
 */
import { z } from 'zod';

export type Owner = 'auth' | 'app' | 'insert';
export type Scalar = string | number | boolean;
export type Json = Scalar | null | Json[] | { [key: string]: Json };

/** A normalised column: a source with its owner, or a constant. */
export type ColumnSource =
  | { from: string; owner: Owner; default?: Scalar }
  | { value: Json; owner: Owner };

export type SoftDelete = { at: string } | { flag: string; active: boolean; at?: string };

/** A mapping with every default filled in: what a migration applies. */
export type Mapping = {
  table: string;
  key: string;
  columns: Record<string, ColumnSource>;
  soft_delete: SoftDelete | null;
  clear_on_soft_delete: string[];
  user_editable: string[];
  roles: { default: string; self_assignable: string[] };
};

/** auth.users columns a mapping may read directly. */
export const AUTH_COLUMNS = [
  'email', 'phone', 'is_anonymous', 'email_confirmed_at', 'last_sign_in_at', 'created_at', 'updated_at',
  'banned_until',
] as const;
/** Values profile-sync derives: normalised across providers (DESIGN.md, "Profile rules"). */
export const NORMALISED_SOURCES = ['full_name', 'avatar_url', 'provider'] as const;
/** The role policy's result. */
export const ROLE_SOURCE = 'role';
/** What `profile-sync init` writes for a NOT NULL column it has no source for; never valid. */
export const TODO_SOURCE = 'TODO: needs a source';

const METADATA_PATH = /^(user_metadata|app_metadata)(\.[A-Za-z0-9_-]+)+$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** Sources whose values are personal: cleared on soft delete unless the mapping says otherwise. */
const isPersonal = (from: string) =>
  ['email', 'phone', 'full_name', 'avatar_url'].includes(from) || from.startsWith('user_metadata.');

const SOURCES_HINT = `an auth column (${AUTH_COLUMNS.join(', ')}), ${NORMALISED_SOURCES.join(', ')}, ` +
  `role, user_metadata.<path> or app_metadata.<path>`;

export function isKnownSource(from: string): boolean {
  return (AUTH_COLUMNS as readonly string[]).includes(from) ||
    (NORMALISED_SOURCES as readonly string[]).includes(from) || from === ROLE_SOURCE || METADATA_PATH.test(from);
}

/** Who owns a column when the mapping does not say: app for full_name, avatar_url and role. */
export function defaultOwner(from: string): Owner {
  return ['full_name', 'avatar_url', ROLE_SOURCE].includes(from) ? 'app' : 'auth';
}

const identifier = z.string().regex(IDENTIFIER, 'must be a column name (letters, digits, _; not quoted)');
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' });
const owner = z.enum(['auth', 'app', 'insert'], { error: 'must be "auth", "app" or "insert"' });
const roleName = z.string().trim().min(1, 'must not be empty').max(100).regex(
  /^[A-Za-z0-9_.:-]+$/,
  'letters, digits, _ . : - only',
);
const uniqueList = (item: z.ZodType<string>) =>
  z.array(item).superRefine((list, ctx) => {
    list.forEach((v, i) => {
      if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', message: `${v} is listed twice`, path: [i] });
    });
  });

const sourceString = z.string().superRefine((from, ctx) => {
  if (from === TODO_SOURCE) {
    ctx.addIssue({ code: 'custom', message: `needs a source: set it to ${SOURCES_HINT}, or {"value": …}` });
  } else if (!isKnownSource(from)) {
    ctx.addIssue({ code: 'custom', message: `unknown source "${from}": use ${SOURCES_HINT}` });
  }
});
const FromSpec = z.strictObject({ from: sourceString, owner: owner.optional(), default: scalar.optional() });
const ValueSpec = z.strictObject({
  value: z.json().refine((v) => v !== undefined, 'is required'),
  owner: owner.optional(),
});

/** A column's source in the document: shorthand string, {from, owner, default} or {value, owner}. */
function columnSchema(input: unknown): z.ZodType {
  if (typeof input === 'string') return sourceString;
  if (input !== null && typeof input === 'object' && !Array.isArray(input) && 'value' in input) return ValueSpec;
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) return FromSpec;
  return z.never({
    error: `must be a source (${SOURCES_HINT}), {"from": …, "owner": …, "default": …} or {"value": …}`,
  });
}

const CleanRule = z.enum(['url', 'name', 'text', 'storage_path']);

const SoftDeleteSpec = z.union([
  z.null(),
  z.strictObject({ at: identifier }),
  z.strictObject({ flag: identifier, active: z.boolean().default(true), at: identifier.optional() }),
], { error: 'must be null, {"at": column} or {"flag": column, "active": true|false, "at"?: column}' });

/** The document as a project writes it (supabase/profile-sync.json). */
export const MappingDocument = z.strictObject({
  $schema: z.string().optional(),
  table: z.string().regex(
    /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/,
    'must be a table name, schema-qualified (e.g. public.profiles)',
  ).default('public.profiles'),
  key: identifier.default('id'),
  columns: z.record(z.string(), z.unknown()).optional(),
  soft_delete: SoftDeleteSpec.optional(),
  clear_on_soft_delete: uniqueList(identifier).optional(),
  user_editable: uniqueList(identifier).optional(),
  /** Per user-editable text column, the rule users' values pass (SQL checks the rest). */
  clean: z.record(
    z.string(),
    z.union([CleanRule, z.strictObject({ rule: CleanRule, max_length: z.number().int().min(1).max(9_999_999).optional() })]),
  ).optional(),
  roles: z.strictObject({
    default: roleName.default('user'),
    self_assignable: uniqueList(roleName).default([]),
  }).default({ default: 'user', self_assignable: [] }),
  /**
   * Columns `init` did not map because their mapping could make a signup's row fail, each with
   * the reason: a note for the team, never applied (move one into "columns" to map it).
   */
  suggestions: z.record(z.string(), z.strictObject({ column: z.unknown(), why: z.string() })).optional(),
});

/** The document as apply_mapping takes it: the file less its notes ("suggestions"). */
export function appliedDocument(doc: unknown): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !('suggestions' in doc)) return doc;
  const { suggestions: _notes, ...rest } = doc as Record<string, unknown>;
  return rest;
}
/** A column in the document: shorthand source, {from, owner?, default?} or {value, owner?}. */
export type ColumnSpec = string | { from: string; owner?: Owner; default?: Scalar } | { value: Json; owner?: Owner };
export type MappingDocument = Omit<z.input<typeof MappingDocument>, 'columns'> & { columns?: Record<string, ColumnSpec> };

/** A mapping that does not validate; `errors` are `field.path: what is wrong` lines. */
export class MappingError extends Error {
  override name = 'MappingError';
  constructor(readonly errors: string[]) {
    super(`the mapping has ${errors.length === 1 ? 'an error' : `${errors.length} errors`}:\n  ${errors.join('\n  ')}`);
  }
}

/** `columns.role`, `user_editable[0]`: the path of a field as the errors name it. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

const issuesOf = (error: z.ZodError, prefix: PropertyKey[] = []) =>
  error.issues.map((issue) => {
    const path = [...prefix, ...issue.path];
    const message = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    return path.length > 0 ? `${fieldPath(path)}: ${message}` : message;
  });

function normaliseColumn(spec: unknown): ColumnSource {
  if (typeof spec === 'string') return { from: spec, owner: defaultOwner(spec) };
  const s = spec as { from?: string; value?: Json; owner?: Owner; default?: Scalar };
  if ('value' in s) return { value: s.value as Json, owner: s.owner ?? 'insert' };
  const from = s.from as string;
  return { from, owner: s.owner ?? defaultOwner(from), ...(s.default !== undefined ? { default: s.default } : {}) };
}

/** The columns a soft delete writes (flag and/or timestamp). */
export function softDeleteColumns(soft: SoftDelete | null): string[] {
  if (!soft) return [];
  return 'flag' in soft ? [soft.flag, ...(soft.at ? [soft.at] : [])] : [soft.at];
}

/**
 * Column names must be plain identifiers: the shape of the document. Every rule about the table
 * and between fields is apply_mapping's, checked live by init/generate (cli/install/live.ts).
 */
function columnNames(m: Mapping): string[] {
  return Object.keys(m.columns).filter((name) => !IDENTIFIER.test(name))
    .map((name) => `columns.${name}: must be a column name (letters, digits, _; not quoted)`);
}

/**
 * Checks a mapping document's shape (offline: zod) and fills every default as apply_mapping does: a field left out
 * takes the default mapping's value (columns, roles), `user_editable` the default's app-owned
 * columns that are mapped, `clear_on_soft_delete` the personal ones. `soft_delete` left out is
 * {at: deleted_at} when the table has a deleted_at column: `tableColumns` says whether (without
 * them, only public.profiles is assumed to). Throws MappingError naming each bad field.
 */
export function normaliseMapping(input: unknown, tableColumns?: readonly string[]): Mapping {
  const parsed = MappingDocument.safeParse(input);
  if (!parsed.success) throw new MappingError(issuesOf(parsed.error));
  const doc = parsed.data;
  const errors: string[] = [];
  const columns: Record<string, ColumnSource> = {};
  for (const [name, spec] of Object.entries(doc.columns ?? DEFAULT_MAPPING_DOCUMENT.columns)) {
    const checked = columnSchema(spec).safeParse(spec);
    if (checked.success) columns[name] = normaliseColumn(spec);
    else errors.push(...issuesOf(checked.error, ['columns', name]));
  }
  if (errors.length > 0) throw new MappingError(errors);
  const hasDeletedAt = tableColumns ? tableColumns.includes('deleted_at') : doc.table === 'public.profiles';
  const mapping: Mapping = {
    table: doc.table,
    key: doc.key,
    columns,
    soft_delete: doc.soft_delete !== undefined ? doc.soft_delete : hasDeletedAt ? { at: 'deleted_at' } : null,
    clear_on_soft_delete: doc.clear_on_soft_delete ??
      Object.entries(columns).filter(([, s]) => 'from' in s && isPersonal(s.from)).map(([c]) => c),
    user_editable: doc.user_editable ??
      DEFAULT_MAPPING_DOCUMENT.user_editable.filter((c) => columns[c]?.owner === 'app'),
    roles: doc.roles,
  };
  const crossErrors = columnNames(mapping);
  if (crossErrors.length > 0) throw new MappingError(crossErrors);
  return mapping;
}

/** Like normaliseMapping, without throwing. */
export function parseMapping(input: unknown): { ok: true; mapping: Mapping } | { ok: false; errors: string[] } {
  try {
    return { ok: true, mapping: normaliseMapping(input) };
  } catch (err) {
    if (err instanceof MappingError) return { ok: false, errors: err.errors };
    throw err;
  }
}

/** The mapping that reproduces public.profiles (DESIGN.md, "Profile rules"), as a project's file holds it. */
export const DEFAULT_MAPPING_DOCUMENT = {
  table: 'public.profiles',
  key: 'id',
  columns: {
    email: 'email',
    phone: 'phone',
    full_name: 'full_name',
    avatar_url: 'avatar_url',
    role: 'role',
    provider: 'provider',
    is_anonymous: 'is_anonymous',
    email_confirmed_at: 'email_confirmed_at',
    last_sign_in_at: 'last_sign_in_at',
  },
  soft_delete: { at: 'deleted_at' },
  clear_on_soft_delete: ['email', 'phone', 'full_name', 'avatar_url'],
  user_editable: ['full_name', 'avatar_url'],
  roles: { default: 'user', self_assignable: [] as string[] },
} satisfies MappingDocument;

export const defaultMapping = (): Mapping => normaliseMapping(DEFAULT_MAPPING_DOCUMENT);

/** An SQL string literal as Postgres' quote_literal writes it (E'' when it holds a backslash). */
export function quoteLiteral(text: string): string {
  const quoted = `'${text.replaceAll("'", "''").replaceAll('\\', '\\\\')}'`;
  return text.includes('\\') ? `E${quoted}` : quoted;
}

/**
 * The migration that applies a mapping document (as the project's file holds it, pretty-printed;
 * apply_mapping fills the defaults): `select profile_sync.apply_mapping('{…}'::jsonb);`. The
 * document is a quoted literal, never dollar-quoted, so no text in it can end the string.
 */
export function mappingMigrationSql(document: unknown): string {
  const json = JSON.stringify(document, null, 2);
  return '-- The mapping profile-sync applies, from supabase/profile-sync.json (written by `profile-sync init` / `generate`).\n' +
    `select profile_sync.apply_mapping(${quoteLiteral(json)}::jsonb);\n`;
}
