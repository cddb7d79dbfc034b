-- Table changes are noticed: the sync core is compiled for the target's definition at the time
-- (its columns, their types and defaults, what authenticated may read); every sync path compares
-- that with the table now and compiles again when it changed (a column added is returned by
-- sync-profile at once), or fails with a coded error naming the mapping field to fix when the
-- mapping no longer fits (a mapped column renamed or dropped). doctor lists the differences.

/*
 * profile_sync._table_definition(target): what the compiled sync core depends on in target, as
 * one value to compare: each column's number, name, type, NOT NULL, default and whether
 * authenticated may read it. Internal.
 */
create or replace function profile_sync._table_definition(target regclass)
returns jsonb
language sql
stable
set search_path = ''
set jit = off
as $$
  select pg_catalog.jsonb_build_object('table', target::text, 'columns', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
      a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
      pg_catalog.pg_get_expr(d.adbin, d.adrelid),
      pg_catalog.has_column_privilege('authenticated', a.attrelid, a.attnum, 'select'))
    order by a.attnum))
  from pg_catalog.pg_attribute a
  left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped
$$;

/*
 * profile_sync._table_stamp(target): a cheap stand-in for _table_definition on the hot path: the
 * versions (xmin) of target's pg_attribute rows, which any change of a column (added, dropped,
 * renamed, retyped, its default or its grants) rewrites, and the table's grants. It changes whenever the definition may have (and, after
 * a catalog rewrite such as VACUUM FULL, when it has not: the definition then decides). Internal.
 */
create or replace function profile_sync._table_stamp(target regclass)
returns text
language sql
stable
set search_path = ''
set jit = off
as $$
  select coalesce(c.relacl::text, '')
    || ':' || coalesce((select pg_catalog.string_agg(a.xmin::text, ',' order by a.attnum)
                        from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attnum > 0), '')
  from pg_catalog.pg_class c where c.oid = target
$$;

/*
 * profile_sync._mapping_document(mapping): a normalised mapping as a document normalise_mapping
 * takes again (the computed per-column fields removed). Internal.
 */
create or replace function profile_sync._mapping_document(mapping jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select mapping || pg_catalog.jsonb_build_object('columns', coalesce((
    select pg_catalog.jsonb_object_agg(e.key, e.value - array['type', 'enum', 'not_null', 'sql', 'column_default'])
    from pg_catalog.jsonb_each(mapping -> 'columns') e), '{}'::jsonb))
$$;

/*
 * profile_sync._compile_mapping(): compiles everything the mapping in force needs for its table,
 * as it is now (compile_sync_core: the sync core and the users' write guard), and records the
 * table definition it was built for. Internal: apply_mapping, recompile, _ensure_compiled.
 */
create or replace function profile_sync._compile_mapping()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform profile_sync.compile_sync_core();
  update profile_sync.settings s set compiled_for = profile_sync._table_definition(pg_catalog.to_regclass(s.target_table))
    || pg_catalog.jsonb_build_object('stamp', profile_sync._table_stamp(pg_catalog.to_regclass(s.target_table)));
end
$$;

/*
 * profile_sync._ensure_compiled(): called first by every sync path (sync_isolated, the dry run).
 * When the target's catalog rows are the ones the core was compiled for (the usual case: one
 * cheap read, _table_stamp), nothing. Else the stored mapping is checked against the table again and, when it still
 * fits, stored normalised anew and compiled (one session does it; the others wait for it). When it
 * no longer fits: SQLSTATE 55000, the message naming the table, the mapping field and what is
 * wrong, the hint the command that fixes it. Nothing when no mapping is applied.
 */
create or replace function profile_sync._ensure_compiled()
returns void
language plpgsql
volatile
set search_path = ''
set jit = off
as $$
declare
  st record;
  m jsonb;
  target regclass;
begin
  select s.target_table, s.compiled_for ->> 'stamp' as stamp into st from profile_sync.settings s;
  if not found or st.stamp is not distinct from profile_sync._table_stamp(pg_catalog.to_regclass(st.target_table)) then
    return;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), -1);
  select s.target_table, s.compiled_for, s.mapping into st from profile_sync.settings s;
  target := pg_catalog.to_regclass(st.target_table);
  if st.compiled_for ->> 'stamp' is not distinct from profile_sync._table_stamp(target) then
    return;  -- another session compiled it meanwhile
  end if;
  if st.compiled_for - 'stamp' = profile_sync._table_definition(target) then
    -- the catalog rows were rewritten, the definition is the same: nothing to compile
    update profile_sync.settings s set compiled_for = s.compiled_for || pg_catalog.jsonb_build_object('stamp', profile_sync._table_stamp(target));
    return;
  end if;
  begin
    m := profile_sync.normalise_mapping(profile_sync._mapping_document(st.mapping));
  exception when sqlstate '22023' then
    raise exception 'profile_sync: % changed since the sync core was compiled for it, and the mapping no longer fits: %; '
      'fix it in supabase/profile-sync.json, then run npx profile-sync generate and supabase db push', st.target_table, sqlerrm
      using errcode = '55000',
        hint = 'select * from profile_sync.table_changes() lists every difference (npx profile-sync doctor shows them)';
  end;
  update profile_sync.settings s set mapping = m;
  perform profile_sync._compile_mapping();
end
$$;

/*
 * profile_sync.table_changes(): for doctor: how the target differs from the definition the sync
 * core was compiled for. (level, field, message, fix):
 *   error  a mapped column, the key or a soft-delete column renamed (named with its new name) or
 *          dropped, the table gone, or anything else that makes the stored mapping not fit
 *          (normalise_mapping's message); the fix names the mapping field and the command;
 *   info   columns added, or changed in a way a recompile absorbs (the next sync does it).
 * Empty when nothing changed or no mapping is applied.
 */
create or replace function profile_sync.table_changes()
returns table (level text, field text, message text, fix text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  st record;
  target regclass;
  now_def jsonb;
  c record;
  refs jsonb;
  reported boolean := false;
  generate constant text := 'then run `npx profile-sync generate` and `supabase db push`';
begin
  select s.target_table, s.compiled_for, s.mapping into st from profile_sync.settings s;
  if not found or st.compiled_for is null then
    return;
  end if;
  target := pg_catalog.to_regclass(st.target_table);
  if target is null then
    level := 'error'; field := 'mapping.table';
    message := pg_catalog.format('table %s no longer exists (renamed or dropped)', st.target_table);
    fix := pg_catalog.format('set "table" in supabase/profile-sync.json to the table''s name now, %s', generate);
    return next;
    return;
  end if;
  now_def := profile_sync._table_definition(target);
  st.compiled_for := st.compiled_for - 'stamp';
  if now_def = st.compiled_for then
    return;
  end if;

  -- every column the mapping names, with the field that names it
  refs := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('mapping.key', st.mapping ->> 'key'))
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.columns.' || k, k))
                 from pg_catalog.jsonb_object_keys(st.mapping -> 'columns') k), '[]')
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.soft_delete.' || k, st.mapping #>> array['soft_delete', k]))
                 from pg_catalog.unnest(array['at', 'flag']) k where st.mapping #>> array['soft_delete', k] is not null), '[]')
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.user_editable', x))
                 from pg_catalog.jsonb_array_elements_text(st.mapping -> 'user_editable') x), '[]');
  for c in
    select r ->> 0 as field, r ->> 1 as col, was.v ->> 0 as attnum, was.v ->> 2 as was_type,
      (select n.v ->> 1 from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v) where n.v -> 0 = was.v -> 0) as now_name,
      (select n.v ->> 2 from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v) where n.v -> 0 = was.v -> 0) as now_type
    from pg_catalog.jsonb_array_elements(refs) r
    left join lateral (
      select w.v from pg_catalog.jsonb_array_elements(st.compiled_for -> 'columns') w (v) where w.v ->> 1 = r ->> 1
    ) was on true
  loop
    continue when c.now_name = c.col and c.now_type = c.was_type;
    level := 'error'; field := c.field;
    if c.now_name is null then
      message := pg_catalog.format('column %I of %s was dropped; %s still names it', c.col, target, c.field);
      fix := pg_catalog.format('remove or change %s in supabase/profile-sync.json, %s', c.field, generate);
    elsif c.now_name <> c.col then
      message := pg_catalog.format('column %I of %s was renamed to %I; %s still names %I', c.col, target, c.now_name, c.field, c.col);
      fix := pg_catalog.format('rename it to %s in %s in supabase/profile-sync.json, %s', c.now_name, c.field, generate);
    else
      message := pg_catalog.format('column %I of %s changed type from %s to %s', c.col, target, c.was_type, c.now_type);
      fix := pg_catalog.format('check %s in supabase/profile-sync.json, %s', c.field, generate);
    end if;
    reported := true;
    return next;
  end loop;

  -- anything else the mapping no longer passes
  if not reported then
    begin
      perform profile_sync.normalise_mapping(profile_sync._mapping_document(st.mapping));
    exception when sqlstate '22023' then
      level := 'error'; field := pg_catalog.split_part(sqlerrm, ':', 1); message := sqlerrm;
      fix := pg_catalog.format('fix %s in supabase/profile-sync.json (table %s), %s', field, target, generate);
      reported := true;
      return next;
    end;
  end if;

  for c in
    select n.v ->> 1 as col from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v)
    where not exists (select 1 from pg_catalog.jsonb_array_elements(st.compiled_for -> 'columns') w (v) where w.v -> 0 = n.v -> 0)
  loop
    level := 'info'; field := null;
    message := pg_catalog.format('column %I was added to %s since the sync core was compiled', c.col, target);
    fix := case when reported then null else 'nothing: the next sync compiles it again (or: select profile_sync.recompile();)' end;
    return next;
  end loop;
end
$$;
