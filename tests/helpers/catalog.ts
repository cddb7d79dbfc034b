/**
 * A snapshot of everything profile-sync defines in a database, for comparing two databases built
 * different ways (migrations vs supabase/schemas): functions by pg_get_functiondef, tables with
 * their columns, constraints and indexes, policies, grants, triggers and comments.
 * @module
 */
import type { Sql } from '../../shared/db.ts';

const SNAPSHOT = `
with ours as (select n.oid, n.nspname from pg_namespace n where n.nspname in ('profile_sync', 'public')),
rels as (
  select c.oid, c.relname, c.relkind, o.nspname from pg_class c join ours o on o.oid = c.relnamespace
  where c.relkind in ('r', 'v', 'm', 'p')
)
select 'function' as kind, p.oid::regprocedure::text as name, pg_get_functiondef(p.oid) as def
  from pg_proc p join ours o on o.oid = p.pronamespace
union all
select 'function acl', p.oid::regprocedure::text, coalesce(p.proacl::text, 'default')
  from pg_proc p join ours o on o.oid = p.pronamespace
union all
select 'column', r.nspname || '.' || r.relname || '.' || a.attname,
  format_type(a.atttypid, a.atttypmod) || case when a.attnotnull then ' not null' else '' end
  || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || coalesce(' generated ' || nullif(a.attgenerated::text, ''), '')
  || coalesce(' acl ' || a.attacl::text, '') || ' #' || a.attnum
  from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
  left join pg_attrdef d on d.adrelid = r.oid and d.adnum = a.attnum
union all
select 'relation', r.nspname || '.' || r.relname,
  r.relkind::text || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, 'default')
  || coalesce(' view=' || pg_get_viewdef(r.oid), '')
  from rels r join pg_class c on c.oid = r.oid
union all
select 'constraint', r.nspname || '.' || r.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
  from rels r join pg_constraint k on k.conrelid = r.oid
union all
select 'index', r.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
  from rels r join pg_index x on x.indrelid = r.oid join pg_class i on i.oid = x.indexrelid
union all
select 'policy', p.schemaname || '.' || p.tablename || '.' || p.policyname,
  p.cmd || ' ' || p.roles::text || ' using ' || coalesce(p.qual, '') || ' check ' || coalesce(p.with_check, '')
  from pg_policies p where p.schemaname in ('profile_sync', 'public')
union all
select 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  from pg_trigger t where not t.tgisinternal
  and (t.tgrelid = 'auth.users'::regclass or t.tgrelid in (select oid from rels))
union all
select 'comment', coalesce(r.nspname || '.' || r.relname, p.oid::regprocedure::text, d.objoid::text) || ':' || d.objsubid, d.description
  from pg_description d
  left join rels r on d.classoid = 'pg_class'::regclass and r.oid = d.objoid
  left join pg_proc p on d.classoid = 'pg_proc'::regclass and p.oid = d.objoid
  where r.oid is not null or p.pronamespace in (select oid from ours)
union all
select 'schema', o.nspname, coalesce(n.nspacl::text, 'default') from ours o join pg_namespace n on n.oid = o.oid
union all
select 'extension', e.extname, e.extnamespace::regnamespace::text from pg_extension e
order by 1, 2
`;

export type CatalogRow = { kind: string; name: string; def: string };

export async function catalogSnapshot(sql: Sql): Promise<CatalogRow[]> {
  return await sql.unsafe<CatalogRow[]>(SNAPSHOT);
}

/** The differences between two snapshots, one line each (empty when they are equal). */
export function catalogDiff(a: CatalogRow[], b: CatalogRow[], labels = ['a', 'b']): string[] {
  const key = (r: CatalogRow) => `${r.kind} ${r.name}`;
  const left = new Map(a.map((r) => [key(r), r.def]));
  const right = new Map(b.map((r) => [key(r), r.def]));
  const out: string[] = [];
  for (const [k, def] of left) {
    if (!right.has(k)) out.push(`only in ${labels[0]}: ${k}`);
    else if (right.get(k) !== def) out.push(`differs: ${k}\n  ${labels[0]}: ${def}\n  ${labels[1]}: ${right.get(k)}`);
  }
  for (const k of right.keys()) if (!left.has(k)) out.push(`only in ${labels[1]}: ${k}`);
  return out;
}
