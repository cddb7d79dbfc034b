/**
 * What init and generate read from a live database (--db-url / SUPABASE_DB_URL): the likeliest
 * profile table and its catalog description for proposeMapping. (Whether a mapping fits, and
 * which pasted triggers it replaces, apply_mapping says itself: ./live.ts.)
 * @module
 */
import postgres from 'postgres';
import { isDbUnavailable } from '../../shared/db.ts';
import type { TableInfo } from '../mapping-table.ts';
import { InstallError } from './project.ts';

export type Db = postgres.Sql;

/** Connects and checks this is a Supabase database (auth.users exists); InstallError otherwise. */
export async function connect(url: string, flag: string): Promise<Db> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new InstallError(`${flag} must be a postgres:// or postgresql:// URL`);
  const sql = postgres(url, { max: 1, prepare: false, connect_timeout: 5, onnotice: () => {}, connection: { application_name: 'profile-sync/install' } });
  try {
    const [{ users }] = await sql`select to_regclass('auth.users') is not null as users`;
    if (!users) throw new InstallError(`the database at ${flag} has no auth.users: point it at your Supabase project's database`);
    return sql;
  } catch (err) {
    await sql.end({ timeout: 1 });
    if (err instanceof InstallError) throw err;
    const why = (err as Error).message;
    throw new InstallError(
      isDbUnavailable(err) || /ECONNREFUSED|ENOTFOUND|timeout|connect/i.test(why)
        ? `cannot reach the database at ${flag} (${why}): check the URL, that the database is up, and your network`
        : `the database at ${flag} refused the connection (${why}): check the user and password in the URL`,
    );
  }
}

const SYSTEM_SCHEMAS = [
  'auth', 'storage', 'extensions', 'profile_sync', 'pg_catalog', 'information_schema', 'vault', 'net', 'cron',
  'realtime', 'supabase_functions', 'graphql', 'graphql_public', 'pgsodium', 'supabase_migrations', 'pg_toast',
];

/** Tables with a unique column referencing auth.users(id), likeliest profile table first. */
export async function candidateTables(sql: Db): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select distinct format('%s.%s', n.nspname, c.relname) as name,
      c.relname in ('profiles', 'user_profiles', 'users', 'accounts', 'members') as named, n.nspname = 'public' as public
    from pg_catalog.pg_constraint f
    join pg_catalog.pg_class c on c.oid = f.conrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_index i on i.indrelid = f.conrelid and i.indisunique and i.indnkeyatts = 1
      and i.indkey[0] = f.conkey[1] and i.indpred is null
    where f.contype = 'f' and f.confrelid = 'auth.users'::regclass and cardinality(f.conkey) = 1
      and n.nspname <> all(${SYSTEM_SCHEMAS})
    order by named desc, public desc, name`;
  return rows.map((r) => r.name);
}

/** The table's catalog description, or undefined when there is no such table. */
export async function describeTable(sql: Db, qualified: string): Promise<TableInfo | undefined> {
  const [schema, name] = qualified.includes('.') ? qualified.split('.', 2) : ['public', qualified];
  const [rel] = await sql<{ oid: number }[]>`
    select c.oid::int as oid from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${name} and c.relkind in ('r', 'p')`;
  if (!rel) return undefined;
  // pg_catalog, not information_schema: that one hides the columns of tables the user has no grant on
  const columns = await sql<TableInfo['columns']>`
    select a.attname::text as name,
      case when t.typtype = 'e' then 'USER-DEFINED'
        else pg_catalog.regexp_replace(pg_catalog.format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), null), ${String.raw`^.*\.`}::text, '')
      end as type,
      not a.attnotnull as nullable, pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default,
      a.attidentity <> '' or a.attgenerated <> '' as generated, t.typtype = 'e' as enum
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_type t on t.oid = a.atttypid
    left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = ${rel.oid} and a.attnum > 0 and not a.attisdropped
    order by a.attnum`;
  const indexes = await sql<{ primary: boolean; columns: string[] }[]>`
    select i.indisprimary as primary,
      array(select a.attname::text from unnest(i.indkey) with ordinality k(attnum, n)
            join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n) as columns
    from pg_catalog.pg_index i
    where i.indrelid = ${rel.oid} and i.indisunique and i.indpred is null and 0 <> all(i.indkey::int2[])`;
  const references = await sql<{ name: string }[]>`
    select a.attname::text as name from pg_catalog.pg_constraint f
    join pg_catalog.pg_attribute a on a.attrelid = f.conrelid and a.attnum = f.conkey[1]
    where f.conrelid = ${rel.oid} and f.contype = 'f' and f.confrelid = 'auth.users'::regclass and cardinality(f.conkey) = 1`;
  const checks = await sql<{ name: string; columns: string[] }[]>`
    select c.conname::text as name,
      array(select a.attname::text from unnest(c.conkey) k(attnum)
            join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns
    from pg_catalog.pg_constraint c where c.conrelid = ${rel.oid} and c.contype = 'c'`;
  // trigger functions' sources, read as text and matched here by exact names, never by a pattern built from them
  const own = await triggerSources(sql, rel.oid);
  const appMaintained: Record<string, string> = {};
  for (const t of own) {
    for (const m of t.src.matchAll(/\bnew\s*\.\s*("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*:?=/gi)) appMaintained[ident(m[1])] ??= t.trigger;
  }
  const pasted = (await triggerSources(sql, 'auth.users')).flatMap((t) => {
    const columns = [...t.src.matchAll(INSERT_INTO)]
      .filter((m) => sameTable(m[1], schema, name))
      .flatMap((m) => m[2].split(',').map((c) => ident(c.trim())));
    return columns.length > 0 ? [{ fn: t.fn, columns }] : [];
  });
  return {
    schema,
    name,
    columns: columns.map((c) => ({ ...c, generated: c.generated || undefined, enum: c.enum || undefined })),
    primaryKey: indexes.find((i) => i.primary)?.columns ?? [],
    unique: indexes.map((i) => i.columns),
    authUserReferences: references.map((r) => r.name),
    checks,
    appMaintained,
    pasted,
  };
}

/** `insert into <table> (<columns>)` in a function's source. */
const INSERT_INTO = /insert\s+into\s+((?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?)\s*\(([^)]*)\)/gi;

/** An identifier as Postgres reads it: quoted kept as written, unquoted folded to lower case. */
const ident = (text: string) => text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text.toLowerCase();

/** Whether a (possibly schema-qualified) name in SQL text is schema.name; unqualified means public. */
function sameTable(written: string, schema: string, name: string): boolean {
  const parts = written.match(/"(?:[^"]|"")+"|[^.\s]+/g)?.map(ident) ?? [];
  const [s, n] = parts.length === 2 ? parts : ['public', parts[0]];
  return s === schema && n === name;
}

/** The non-internal triggers on a table (not profile-sync's) with their functions' sources. */
async function triggerSources(sql: Db, table: number | string): Promise<{ trigger: string; fn: string; src: string }[]> {
  return await sql<{ trigger: string; fn: string; src: string }[]>`
    select t.tgname::text as trigger, p.oid::regprocedure::text as fn, p.prosrc as src
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where t.tgrelid = ${String(table)}::regclass and not t.tgisinternal and n.nspname <> 'profile_sync'
    order by 1`;
}
