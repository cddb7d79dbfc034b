-- What signed-in users may write to the target table. The app's own grants and RLS policies stay
-- as the app made them (its profile form keeps working); what users may never write — the key,
-- the role, auth-owned, insert-owned and soft-delete columns, another user's row — is refused per
-- column by one trigger for anon/authenticated, and what they may write to a user-editable text
-- column passes that column's cleaning rule (the mapping's "clean", shown by doctor).

/*
 * profile_sync._clean_rule_default(column_name, source): the cleaning rule a user-editable text
 * column gets when the mapping names none: by its source (full_name: name; avatar_url:
 * storage_path), else by its name (avatar/picture/photo/image/logo/icon/banner/cover:
 * storage_path; url/uri/website/homepage/link/site/blog: url; name/username/handle/nickname/
 * login/alias: name), else text. Internal: normalise_mapping.
 */
create or replace function profile_sync._clean_rule_default(column_name text, source text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when source = 'full_name' then 'name'
    when source = 'avatar_url' then 'storage_path'
    when column_name operator(pg_catalog.~*) '(avatar|picture|photo|image|logo|icon|banner|cover)' then 'storage_path'
    when column_name operator(pg_catalog.~*) '(^|_)(url|uri|website|homepage|home_page|link|site|blog)(_|$)' then 'url'
    when column_name operator(pg_catalog.~*) '(^|_)(name|username|handle|nickname|nick|login|alias)(_|$)' then 'name'
    else 'text'
  end
$$;

/*
 * profile_sync._clean_rule_cap(rule): the longest value a rule accepts when the column's own type
 * is not shorter: name 200 (longer is cut), url 2048, storage_path 1024, text 5000 (longer is
 * refused). Internal.
 */
create or replace function profile_sync._clean_rule_cap(rule text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case rule when 'name' then 200 when 'url' then 2048 when 'storage_path' then 1024 else 5000 end
$$;

/*
 * profile_sync._clean_user_value(rule, value, max_length): what a user's value becomes under the
 * rule, or null when it is refused:
 *   name          cleaned as a synced name is (clean_name: controls, bidi and zero-width
 *                 characters removed, spaces collapsed, trimmed), cut to max_length; refused
 *                 when nothing printable is left;
 *   url           an http(s) URL as an avatar URL must be (safe_avatar_url), at most max_length;
 *   storage_path  such a URL, or a Storage object path as apps store it (`0.8263.png`,
 *                 `<user id>/avatar.png`): ASCII letters, digits and . _ - ~ @ = + , in
 *                 /-separated segments, none of them . or .., not starting with / or . (so never
 *                 a scheme, a protocol-relative URL or a way up), at most max_length;
 *   text          kept as written, refused when it holds a control character other than tab,
 *                 line feed and carriage return, a bidi control, a zero-width space, word joiner
 *                 or BOM, or is longer than max_length.
 * Internal: the trigger _guard_user_write.
 */
create or replace function profile_sync._clean_user_value(rule text, value text, max_length integer)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when value is null then null
    when rule = 'name' then nullif(pg_catalog.rtrim(pg_catalog.left(profile_sync.clean_name(value), max_length)), '')
    when pg_catalog.char_length(value) > max_length then null
    when rule = 'url' then profile_sync.safe_avatar_url(value)
    when rule = 'storage_path' then coalesce(profile_sync.safe_avatar_url(value),
      case when value operator(pg_catalog.~) '^[A-Za-z0-9_~@=+,-][A-Za-z0-9._~@=+,-]*(/[A-Za-z0-9._~@=+,-]+)*$'
        and value operator(pg_catalog.!~) '(^|/)\.\.?(/|$)' then value end)
    when rule = 'text' then case when value operator(pg_catalog.!~)
      '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]'
      then value end
  end
$$;

/*
 * profile_sync._clean_rule_refusal(rule, max_length): what the error says a value of the rule
 * must be. Internal.
 */
create or replace function profile_sync._clean_rule_refusal(rule text, max_length integer)
returns text
language sql
immutable
set search_path = ''
as $$
  select case rule
    when 'name' then 'a name must hold a printable character'
    when 'url' then pg_catalog.format('an http(s) URL (at most %s characters) is required', max_length)
    when 'storage_path' then pg_catalog.format(
      'a Storage object path (e.g. 0.8263.png) or an http(s) URL (at most %s characters) is required', max_length)
    else pg_catalog.format(
      'at most %s characters, without control, bidi or zero-width characters', max_length)
  end
$$;

/*
 * profile_sync._user_write_rules(mapping): the rules _guard_user_write applies, from a normalised
 * mapping and the live table, each column by number (a rename keeps its rule):
 *   {key: {attnum, name}, protected: [{attnum, name, reason, type, default, volatile}],
 *    clean: [{attnum, name, rule, max_length}]}
 * Protected: every mapped column that is not user-editable and the soft-delete columns.
 * Internal: _compile_mapping.
 */
create or replace function profile_sync._user_write_rules(mapping jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  with target as (
    select pg_catalog.to_regclass(mapping ->> 'table') as rel
  ),
  cols as (
    select a.attnum, a.attname::text as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
      pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default_sql
    from target t
    join pg_catalog.pg_attribute a on a.attrelid = t.rel and a.attnum > 0 and not a.attisdropped
    left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  ),
  editable as (
    select x as name from pg_catalog.jsonb_array_elements_text(mapping -> 'user_editable') x
  ),
  protected as (
    select c.*, case
        when e.value ->> 'from' = 'role' then 'it holds the role, which only the role policy and admins set'
        when e.value ->> 'owner' = 'auth' then 'it follows auth (auth-owned)'
        when e.value ->> 'owner' = 'insert' then 'profile-sync writes it when the row is created'
        else 'profile-sync keeps it and the mapping does not make it user-editable'
      end as reason
    from pg_catalog.jsonb_each(mapping -> 'columns') e
    join cols c on c.name = e.key
    where e.key not in (select name from editable)
    union all
    select c.*, 'it marks a soft-deleted user'
    from cols c
    where c.name in (mapping #>> '{soft_delete,at}', mapping #>> '{soft_delete,flag}')
  )
  select pg_catalog.jsonb_build_object(
    'key', (select pg_catalog.jsonb_build_object('attnum', c.attnum, 'name', c.name) from cols c where c.name = mapping ->> 'key'),
    'protected', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'attnum', p.attnum, 'name', p.name, 'reason', p.reason, 'type', p.type, 'default', p.default_sql,
        -- a default that differs on every call cannot tell a user's value from the default's
        'volatile', coalesce(p.default_sql operator(pg_catalog.~*)
          '(nextval|random|gen_random_uuid|uuid_generate_v[0-9a-z_]*|uuidv[47]|clock_timestamp|statement_timestamp|timeofday)\s*\(', false))
        order by p.attnum)
      from protected p), '[]'),
    'clean', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'attnum', c.attnum, 'name', c.name, 'rule', r.value ->> 'rule', 'max_length', (r.value ->> 'max_length')::integer)
        order by c.attnum)
      from pg_catalog.jsonb_each(coalesce(mapping -> 'clean', '{}')) r
      join cols c on c.name = r.key), '[]'))
$$;

/*
 * profile_sync._guard_user_write(): trigger function (before insert, update or delete, per row,
 * fired only when current_user is anon or authenticated: PostgREST's requests, not profile-sync,
 * the service role or the app's own security-definer functions). A user writes only their own
 * row (key = auth.uid()); never a protected column (an insert may leave it to its default); and
 * what they write to a user-editable text column passes its rule (_clean_user_value: names are
 * cleaned, anything else refused). Refusals: SQLSTATE 42501 (not theirs to write) or 23514 (a
 * value its rule refuses), naming the column. Values a user did not change are not checked, and
 * an insert of a row that exists already (an upsert) is checked as the update it becomes.
 * Rules come from settings.user_writes by column number, names from the catalog now, so a
 * renamed column keeps its rule and a dropped one is skipped.
 */
create or replace function profile_sync._guard_user_write()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  rules jsonb;
  names jsonb;
  uid uuid := auth.uid();
  n jsonb;
  o jsonb;
  r jsonb;
  key_col text;
  col text;
  value text;
  cleaned text;
  patch jsonb := '{}';
  default_value jsonb;
  rel text := pg_catalog.format('%I.%I', tg_table_schema, tg_table_name);
begin
  select s.user_writes into rules from profile_sync.settings s where pg_catalog.to_regclass(s.target_table) = tg_relid;
  if rules is null then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  select pg_catalog.jsonb_object_agg(a.attnum::text, a.attname) into names
  from pg_catalog.pg_attribute a where a.attrelid = tg_relid and a.attnum > 0 and not a.attisdropped;
  key_col := names ->> (rules #>> '{key,attnum}');
  if tg_op <> 'INSERT' then o := pg_catalog.to_jsonb(old); end if;
  if tg_op <> 'DELETE' then n := pg_catalog.to_jsonb(new); end if;

  if uid is null or key_col is null
    or (o is not null and o ->> key_col is distinct from uid::text)
    or (n is not null and n ->> key_col is distinct from uid::text) then
    raise exception 'profile_sync: a user may write only their own row of % (% = auth.uid())', rel, coalesce(key_col, 'its key')
      using errcode = '42501', schema = tg_table_schema, table = tg_table_name, column = coalesce(key_col, '');
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  if tg_op = 'INSERT' then
    -- an upsert of the user's existing row: its update is checked against the row
    execute pg_catalog.format('select pg_catalog.to_jsonb(t) from %s t where t.%I = $1', rel, key_col) into o using uid;
    if o is not null then
      return new;
    end if;
  end if;

  for r in select x from pg_catalog.jsonb_array_elements(rules -> 'protected') x loop
    col := names ->> (r ->> 'attnum');
    continue when col is null;
    if tg_op = 'UPDATE' then
      continue when n -> col is not distinct from o -> col;
    else
      continue when n -> col = 'null'::jsonb or (r ->> 'volatile')::boolean;
      if r ->> 'default' is not null then
        execute pg_catalog.format('select pg_catalog.to_jsonb((%s)::%s)', r ->> 'default', r ->> 'type') into default_value;
        continue when n -> col = default_value;
      end if;
    end if;
    raise exception 'profile_sync: users may not write %.% (%)', rel, col, r ->> 'reason'
      using errcode = '42501', schema = tg_table_schema, table = tg_table_name, column = col;
  end loop;

  for r in select x from pg_catalog.jsonb_array_elements(rules -> 'clean') x loop
    col := names ->> (r ->> 'attnum');
    continue when col is null or pg_catalog.jsonb_typeof(n -> col) is distinct from 'string'
      or (tg_op = 'UPDATE' and n -> col is not distinct from o -> col);
    value := n ->> col;
    cleaned := profile_sync._clean_user_value(r ->> 'rule', value, (r ->> 'max_length')::integer);
    if cleaned is null then
      raise exception 'profile_sync: %.%: % (rule %)', rel, col,
        profile_sync._clean_rule_refusal(r ->> 'rule', (r ->> 'max_length')::integer), r ->> 'rule'
        using errcode = '23514', schema = tg_table_schema, table = tg_table_name, column = col;
    end if;
    if cleaned is distinct from value then
      patch := patch || pg_catalog.jsonb_build_object(col, cleaned);
    end if;
  end loop;
  if patch <> '{}'::jsonb then
    new := pg_catalog.jsonb_populate_record(new, patch);
  end if;
  return new;
end
$$;

/*
 * profile_sync._install_user_write_guard(): stores the rules of the mapping in force and puts the
 * trigger profile_sync_user_writes on its table (when missing). It replaces the compiled
 * user-edit trigger of earlier versions (profile_sync_user_edits, check_user_edit()), which it
 * removes. Internal: compile_sync_core.
 */
create or replace function profile_sync._install_user_write_guard()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  target regclass;
begin
  update profile_sync.settings s set user_writes = profile_sync._user_write_rules(s.mapping)
  returning pg_catalog.to_regclass(s.target_table) into target;
  execute pg_catalog.format('drop trigger if exists profile_sync_user_edits on %s', target);
  drop function if exists profile_sync.check_user_edit();
  if not exists (select 1 from pg_catalog.pg_trigger t
      where t.tgrelid = target and t.tgname = 'profile_sync_user_writes' and t.tgenabled <> 'D') then
    execute pg_catalog.format(
      'create or replace trigger profile_sync_user_writes before insert or update or delete on %s for each row '
      'when (current_user in (''anon'', ''authenticated'')) execute function profile_sync._guard_user_write()', target);
  end if;
end
$$;

/*
 * profile_sync._limit_user_grants(target, mapping): what apply_mapping does to the target's
 * grants. The app's own grants and policies are kept (the guard refuses what users may not
 * write); only what users never need goes: TRUNCATE (it passes by triggers and RLS), TRIGGER and
 * REFERENCES, for anon and authenticated. public.profiles as profile-sync creates it keeps its
 * own contract: users update only the user-editable columns, never insert or delete.
 * Internal: apply_mapping.
 */
create or replace function profile_sync._limit_user_grants(target regclass, mapping jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  execute pg_catalog.format('revoke truncate, trigger, references on table %s from anon, authenticated', target);
  execute pg_catalog.format('revoke references (%s) on table %s from anon, authenticated',
    (select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum)
     from pg_catalog.pg_attribute a where a.attrelid = target and a.attnum > 0 and not a.attisdropped), target);
  if exists (select 1 from pg_catalog.pg_trigger t
      where t.tgrelid = target and t.tgfoid = 'profile_sync.touch_updated_at()'::regprocedure) then
    execute pg_catalog.format('revoke insert, update, delete on table %s from anon, authenticated', target);
    if pg_catalog.jsonb_array_length(mapping -> 'user_editable') > 0 then
      execute pg_catalog.format('grant update (%s) on table %s to authenticated',
        (select pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ')
         from pg_catalog.jsonb_array_elements_text(mapping -> 'user_editable') x), target);
    end if;
  end if;
end
$$;

/*
 * profile_sync.user_edit_rules(): the rule each user-editable text column's values pass, for
 * doctor: (column_name, rule, max_length, on_bad_value) where on_bad_value is 'cleaned' (name)
 * or 'refused'. Empty before a mapping is applied.
 */
create or replace function profile_sync.user_edit_rules()
returns table (column_name text, rule text, max_length integer, on_bad_value text)
language sql
stable
set search_path = ''
as $$
  select r.key, r.value ->> 'rule', (r.value ->> 'max_length')::integer,
    case when r.value ->> 'rule' = 'name' then 'cleaned' else 'refused' end
  from profile_sync.settings s, pg_catalog.jsonb_each(coalesce(s.mapping -> 'clean', '{}')) r
  order by 1
$$;

/*
 * profile_sync.user_write_findings(): for doctor: every grant or policy on the target that would
 * let a user write what they may not, or that users never need. (level, subject, message, fix):
 *   error  users' writes are not guarded (trigger profile_sync_user_writes missing or disabled)
 *          and anon/authenticated may insert or update a protected column;
 *   warn   anon/authenticated hold TRUNCATE, TRIGGER or REFERENCES; a write policy whose
 *          condition does not involve auth.uid() (the guard refuses other users' rows anyway);
 *          RLS off; a role-like column outside the mapping that users may write.
 * Empty before a mapping is applied.
 */
create or replace function profile_sync.user_write_findings()
returns table (level text, subject text, message text, fix text)
language plpgsql
stable
set search_path = ''
as $$
declare
  st record;
  target regclass;
  guarded boolean;
  who text;
  priv text;
  r record;
begin
  select s.target_table, s.user_writes into st from profile_sync.settings s;
  target := pg_catalog.to_regclass(st.target_table);
  if target is null then
    return;
  end if;
  guarded := exists (select 1 from pg_catalog.pg_trigger t
    where t.tgrelid = target and t.tgname = 'profile_sync_user_writes' and t.tgenabled <> 'D');
  if not guarded then
    level := 'error'; subject := pg_catalog.format('trigger profile_sync_user_writes on %s', target);
    message := pg_catalog.format('users'' writes to %s are not guarded (the trigger is missing or disabled)', target);
    fix := 'select profile_sync.recompile();';
    return next;
  end if;

  foreach who in array array['anon', 'authenticated'] loop
    foreach priv in array array['TRUNCATE', 'TRIGGER', 'REFERENCES'] loop
      if pg_catalog.has_table_privilege(who, target, priv)
        or (priv = 'REFERENCES' and pg_catalog.has_any_column_privilege(who, target, priv)) then
        level := 'warn'; subject := pg_catalog.format('grant %s on %s to %s', pg_catalog.lower(priv), target, who);
        message := pg_catalog.format('%s holds %s on %s, which users never need', who, priv, target);
        fix := pg_catalog.format('revoke %s on table %s from %s;', pg_catalog.lower(priv), target, who);
        return next;
      end if;
    end loop;
    if not guarded then
      for r in
        select p ->> 'name' as col, p ->> 'reason' as reason from pg_catalog.jsonb_array_elements(st.user_writes -> 'protected') p
        where exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = p ->> 'name' and not a.attisdropped)
          and (pg_catalog.has_column_privilege(who, target, p ->> 'name', 'UPDATE')
            or pg_catalog.has_column_privilege(who, target, p ->> 'name', 'INSERT'))
      loop
        level := 'error'; subject := pg_catalog.format('grant on %s.%I to %s', target, r.col, who);
        message := pg_catalog.format('%s may write %s.%I (%s) and nothing refuses it', who, target, r.col, r.reason);
        fix := 'select profile_sync.recompile();';
        return next;
      end loop;
    end if;
    for r in
      select a.attname::text as col from pg_catalog.pg_attribute a
      where a.attrelid = target and a.attnum > 0 and not a.attisdropped
        and a.attname operator(pg_catalog.~*) '^(roles?|.*_roles?|is_admin|is_superuser|permissions)$'
        and not exists (select 1 from pg_catalog.jsonb_array_elements(st.user_writes -> 'protected') p where p ->> 'name' = a.attname)
        and (pg_catalog.has_column_privilege(who, target, a.attnum, 'UPDATE')
          or pg_catalog.has_column_privilege(who, target, a.attnum, 'INSERT'))
    loop
      level := 'warn'; subject := pg_catalog.format('grant on %s.%I to %s', target, r.col, who);
      message := pg_catalog.format('%s may write %s.%I, which is not in the mapping, so profile-sync does not guard it', who, target, r.col);
      fix := pg_catalog.format('map it ("%s": "role") or revoke insert, update on table %s from %s and grant only the columns users edit',
        r.col, target, who);
      return next;
    end loop;
  end loop;

  for r in
    select p.polname::text as name from pg_catalog.pg_policy p
    where p.polrelid = target and p.polcmd in ('a', 'w', '*')
      and (p.polroles = '{0}' or p.polroles && array(select o.oid from pg_catalog.pg_roles o where o.rolname in ('anon', 'authenticated')))
      and coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') !~ 'auth\.uid\(\)'
      and coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') !~ 'auth\.uid\(\)'
  loop
    level := 'warn'; subject := pg_catalog.format('policy %I on %s', r.name, target);
    message := pg_catalog.format('policy %I lets users write rows of %s without checking auth.uid() (the guard still refuses other users'' rows)', r.name, target);
    fix := pg_catalog.format('limit it to the user''s own row: using ((select auth.uid()) = %I)', st.user_writes #>> '{key,name}');
    return next;
  end loop;

  if not (select c.relrowsecurity from pg_catalog.pg_class c where c.oid = target) then
    level := 'warn'; subject := pg_catalog.format('row level security on %s', target);
    message := pg_catalog.format('RLS is off on %s: every user may read every row', target);
    fix := pg_catalog.format('alter table %s enable row level security;', target);
    return next;
  end if;
end
$$;
