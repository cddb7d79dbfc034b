-- The mapping: which table profile-sync keeps true to auth.users, and where each of its columns
-- comes from (DESIGN "Your table, not ours"). A team applies one with a migration:
--
--   select profile_sync.apply_mapping($mapping$ { "table": "public.user_profiles", … } $mapping$::jsonb);
--
-- apply_mapping validates it against the live table (errors name the field, SQLSTATE 22023,
-- nothing changed), stores it in profile_sync.settings, creates public.profiles when the default
-- mapping targets it and it does not exist, replaces pasted triggers on auth.users that write the
-- table (only after the rest succeeded), guards what users may write (36_user_writes.sql), and
-- compiles the sync core for the table
-- (40_sync_core.sql): static SQL per mapping, so every sync stays one set-based statement.

-- What drift and reconcile read of the target: its keys. compile_sync_core points it at the
-- target; until a mapping is applied it is empty.
do $$
begin
  if pg_catalog.to_regclass('profile_sync.targets') is null then
    create view profile_sync.targets as select null::uuid as id where false;
  end if;
end
$$;

/*
 * profile_sync.default_mapping(): the default mapping, which reproduces public.profiles and every
 * profile rule. Each field a mapping leaves out takes its value from here.
 */
create or replace function profile_sync.default_mapping()
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select '{
    "table": "public.profiles",
    "key": "id",
    "columns": {
      "email": "email",
      "phone": "phone",
      "full_name": "full_name",
      "avatar_url": "avatar_url",
      "role": "role",
      "provider": "provider",
      "is_anonymous": "is_anonymous",
      "email_confirmed_at": "email_confirmed_at",
      "last_sign_in_at": "last_sign_in_at"
    },
    "soft_delete": { "at": "deleted_at" },
    "clear_on_soft_delete": ["email", "phone", "full_name", "avatar_url"],
    "user_editable": ["full_name", "avatar_url"],
    "roles": { "default": "user", "self_assignable": [] }
  }'::jsonb
$$;

/*
 * profile_sync.mapping_source_sql(source, column_type): the SQL expression (over auth.users u)
 * a source gives for a column of column_type, or raises naming what is wrong. Sources: an auth
 * column, the normalised full_name / avatar_url / provider, user_metadata.<path> /
 * app_metadata.<path>. (role is the role policy's, computed by the core.) Internal.
 */
create or replace function profile_sync.mapping_source_sql(field text, source text, column_type text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  text_like constant boolean := column_type in ('text', 'citext') or column_type ~ '^(character varying|character)(\(\d+\))?$';
  max_length integer := coalesce(pg_catalog.substring(column_type, '\((\d+)\)')::integer, 1000);
  json_value text;
  path text[];
begin
  if source in ('email', 'phone', 'full_name', 'avatar_url', 'provider') then
    if not text_like then
      raise exception '%: % is text; the column is %', field, source, column_type using errcode = '22023';
    end if;
    return case source
      when 'email' then 'nullif(u.email, '''')'
      when 'phone' then 'nullif(u.phone, '''')'
      when 'full_name' then pg_catalog.format('left(profile_sync.full_name_from(u.raw_user_meta_data), %s)', max_length)
      when 'avatar_url' then 'profile_sync.avatar_url_from(u.raw_user_meta_data)'
      else pg_catalog.format('profile_sync.clean_text(u.raw_app_meta_data -> ''provider'', %s)', least(max_length, 100))
    end;
  elsif source = 'is_anonymous' then
    if column_type <> 'boolean' then
      raise exception '%: is_anonymous is boolean; the column is %', field, column_type using errcode = '22023';
    end if;
    return 'coalesce(u.is_anonymous, false)';
  elsif source in ('email_confirmed_at', 'last_sign_in_at', 'created_at', 'updated_at', 'banned_until') then
    if column_type not in ('timestamp with time zone', 'timestamp without time zone') then
      raise exception '%: % is a timestamp; the column is %', field, source, column_type using errcode = '22023';
    end if;
    return pg_catalog.format('u.%I', source);
  elsif source ~ '^(user_metadata|app_metadata)\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$' then
    path := pg_catalog.string_to_array(pg_catalog.substr(source, pg_catalog.strpos(source, '.') + 1), '.');
    json_value := pg_catalog.format('(u.%s #> %L)',
      case when source like 'user_metadata.%' then 'raw_user_meta_data' else 'raw_app_meta_data' end, path::text);
    if text_like then
      return pg_catalog.format('profile_sync.clean_text(%s, %s)', json_value, max_length);
    elsif column_type = 'jsonb' then
      return json_value;
    elsif column_type = 'boolean' then
      return pg_catalog.format('case when pg_catalog.jsonb_typeof(%1$s) = ''boolean'' then (%1$s)::boolean end', json_value);
    elsif column_type in ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') then
      return pg_catalog.format(
        'case when pg_catalog.jsonb_typeof(%1$s) = ''number'' then profile_sync.number_or_null(%1$s, %2$L)::%2$s end',
        json_value, column_type);
    elsif column_type = 'uuid' then
      return pg_catalog.format(
        'case when (%1$s #>> ''{}'') ~* ''^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'' then (%1$s #>> ''{}'')::uuid end',
        json_value);
    end if;
    raise exception '%: a metadata value cannot fill a column of type % (text, jsonb, boolean, numbers and uuid can)',
      field, column_type using errcode = '22023';
  end if;
  raise exception '%: unknown source "%" (an auth column: email, phone, is_anonymous, email_confirmed_at, '
    'last_sign_in_at, created_at, updated_at, banned_until; full_name, avatar_url, provider, role; '
    'user_metadata.<path>; app_metadata.<path>)', field, source using errcode = '22023';
end
$$;

/*
 * profile_sync.number_or_null(value, type): a JSON number as the column's numeric type, or null
 * when it does not fit (a metadata value out of range must not fail the sync). Internal.
 */
create or replace function profile_sync.number_or_null(value jsonb, column_type text)
returns numeric
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case column_type
    when 'smallint' then (value)::numeric::smallint
    when 'integer' then (value)::numeric::integer
    when 'bigint' then (value)::numeric::bigint
    else (value)::numeric
  end;
exception when numeric_value_out_of_range then
  return null;
end
$$;

/*
 * profile_sync.normalise_mapping(mapping): the mapping checked against the live table, every
 * default filled in, each column's spec spelled out with the SQL it compiles to:
 *   columns.<name> = {from, owner, default?, type, sql} or {value, owner, type, sql}.
 * Raises SQLSTATE 22023 with a message naming the field for anything wrong. Changes nothing.
 */
create or replace function profile_sync.normalise_mapping(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  d constant jsonb := profile_sync.default_mapping();
  m jsonb := coalesce(mapping, '{}'::jsonb);
  target regclass;
  target_name text;
  key_name text;
  out_columns jsonb := '{}';
  col record;
  spec jsonb;
  src text;
  owner text;
  expr text;
  literal text;
  soft jsonb;
  clear jsonb;
  editable jsonb;
  roles jsonb;
  field text;
  k text;
  personal text[] := '{}';
  mapped text[];
  clean_in jsonb;
  clean jsonb := '{}';
  rule text;
  col_type text;
begin
  if pg_catalog.jsonb_typeof(m) <> 'object' then
    raise exception 'mapping: must be a JSON object' using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(m) loop
    if k not in ('$schema', 'table', 'key', 'columns', 'soft_delete', 'clear_on_soft_delete', 'user_editable', 'roles', 'clean') then
      raise exception 'mapping.%: unknown field', k using errcode = '22023';
    end if;
  end loop;

  -- table and key
  target_name := coalesce(m ->> 'table', d ->> 'table');
  if pg_catalog.jsonb_typeof(coalesce(m -> 'table', d -> 'table')) <> 'string' or target_name !~ '^[^.]+\.[^.]+$' then
    raise exception 'mapping.table: a schema-qualified table name, e.g. public.profiles' using errcode = '22023';
  end if;
  target := pg_catalog.to_regclass(target_name);
  if target is null and target_name <> 'public.profiles' then
    raise exception 'mapping.table: table % does not exist', target_name using errcode = '22023';
  end if;
  if target is null then
    -- the default table, created by apply_mapping: checked against its own definition
    return profile_sync.normalise_default_profiles(m);
  end if;
  if (select c.relkind from pg_catalog.pg_class c where c.oid = target) not in ('r', 'p') then
    raise exception 'mapping.table: % is not a table', target_name using errcode = '22023';
  end if;
  if (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target)
      in ('auth', 'profile_sync', 'storage', 'pg_catalog', 'information_schema') then
    raise exception 'mapping.table: % is in a schema profile-sync may not write', target_name using errcode = '22023';
  end if;

  key_name := coalesce(m ->> 'key', d ->> 'key');
  if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name and a.attnum > 0 and not a.attisdropped) then
    raise exception 'mapping.key: column % does not exist in %', key_name, target_name using errcode = '22023';
  end if;
  if pg_catalog.format_type((select a.atttypid from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name), null) <> 'uuid' then
    raise exception 'mapping.key: column % must be uuid (it holds auth.users.id; a text column holding uuids converts with: alter table % alter column % type uuid using %::uuid)',
      key_name, target_name, key_name, key_name using errcode = '22023';
  end if;
  if not exists (
    select 1 from pg_catalog.pg_index i
    where i.indrelid = target and i.indisunique and i.indpred is null and i.indexprs is null and i.indnatts = 1
      and i.indkey[0] = (select a.attnum from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name)
  ) then
    raise exception 'mapping.key: column % has no unique constraint (add one: alter table % add unique (%))',
      key_name, target_name, key_name using errcode = '22023';
  end if;
  -- a key that does not reference auth.users while another column does is a mistake (user_profiles'
  -- own id beside its user_id): name the column that holds the auth id
  select a.attname into k
  from pg_catalog.pg_constraint fk
  join pg_catalog.pg_attribute a on a.attrelid = fk.conrelid and a.attnum = fk.conkey[1]
  where fk.conrelid = target and fk.contype = 'f' and fk.confrelid = 'auth.users'::regclass
    and pg_catalog.cardinality(fk.conkey) = 1 and a.attname <> key_name
    and exists (select 1 from pg_catalog.pg_index i where i.indrelid = target and i.indisunique and i.indpred is null
      and i.indnatts = 1 and i.indkey[0] = a.attnum)
    and not exists (select 1 from pg_catalog.pg_constraint f2
      join pg_catalog.pg_attribute a2 on a2.attrelid = f2.conrelid and a2.attnum = f2.conkey[1]
      where f2.conrelid = target and f2.contype = 'f' and f2.confrelid = 'auth.users'::regclass and a2.attname = key_name)
  order by a.attnum limit 1;
  if found then
    raise exception 'mapping.key: % does not reference auth.users, but % does (and is unique): set "key": "%"',
      key_name, k, k using errcode = '22023';
  end if;

  -- columns
  spec := coalesce(m -> 'columns', d -> 'columns');
  if pg_catalog.jsonb_typeof(spec) <> 'object' then
    raise exception 'mapping.columns: an object of target column → source' using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(spec) order by 1 loop
    field := 'mapping.columns.' || k;
    select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) as type, a.attnotnull, a.attgenerated,
        pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) as default_sql,
        exists (select 1 from pg_catalog.pg_type ty where ty.oid = a.atttypid and ty.typtype = 'e') as is_enum
      into col
      from pg_catalog.pg_attribute a
      left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
      where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped;
    if not found then
      raise exception '%: column % does not exist in %', field, k, target_name using errcode = '22023';
    end if;
    if k = key_name then
      raise exception '%: the key column is always auth.users.id; do not map it', field using errcode = '22023';
    end if;
    if col.attgenerated <> '' then
      raise exception '%: % is a generated column', field, k using errcode = '22023';
    end if;
    -- the compiled names are "<what>:<column>" (profile_sync._name) and must fit Postgres' 63 bytes
    if pg_catalog.octet_length(k) > 50 then
      raise exception '%: column names longer than 50 bytes are not supported', field using errcode = '22023';
    end if;
    if pg_catalog.jsonb_typeof(spec -> k) = 'string' then
      spec := pg_catalog.jsonb_set(spec, array[k], pg_catalog.jsonb_build_object('from', spec ->> k));
    end if;
    if pg_catalog.jsonb_typeof(spec -> k) <> 'object' then
      raise exception '%: a source name, {"from": …}, or {"value": …}', field using errcode = '22023';
    end if;
    if exists (select 1 from pg_catalog.jsonb_object_keys(spec -> k) x where x not in ('from', 'owner', 'default', 'value')) then
      raise exception '%: only from, owner, default and value are allowed', field using errcode = '22023';
    end if;
    if (spec -> k) ? 'value' then
      if (spec -> k) ? 'from' then
        raise exception '%: either from or value, not both', field using errcode = '22023';
      end if;
      owner := coalesce(spec -> k ->> 'owner', 'insert');
      literal := profile_sync.mapping_literal(field || '.value', spec -> k -> 'value', col.type);
      expr := literal;
      src := null;
    else
      src := spec -> k ->> 'from';
      if src is null then
        raise exception '%.from: a source is required', field using errcode = '22023';
      end if;
      -- a user picks their own metadata at signup: it never names a role
      if src ~* '^user_metadata\.roles?(\.|$)' or (k ~* '^(.*_)?roles?$' and src like 'user_metadata.%') then
        raise exception '%.from: % is chosen by the user at signup; a role never comes from user metadata (map the role with "role": the role policy, whose roles.self_assignable lists what a user may pick)',
          field, src using errcode = '22023';
      end if;
      owner := coalesce(spec -> k ->> 'owner',
        case when src in ('full_name', 'avatar_url', 'role') then 'app' else 'auth' end);
      if src = 'role' then
        if not (col.type in ('text', 'citext') or col.type ~ '^character varying' or col.is_enum) then
          raise exception '%: role is text; the column is %', field, col.type using errcode = '22023';
        end if;
        expr := null;  -- the role policy's result, computed by the core
      elsif col.is_enum then
        -- a text source into an enum column: only the enum's own labels, anything else is null
        expr := pg_catalog.format('(select case when v.t = any (pg_catalog.enum_range(null::%1$s)::text[]) then v.t::%1$s end from (select %2$s as t) v)',
          col.type, profile_sync.mapping_source_sql(field || '.from', src, 'text'));
      else
        expr := profile_sync.mapping_source_sql(field || '.from', src, col.type);
      end if;
      if (spec -> k) ? 'default' then
        literal := profile_sync.mapping_literal(field || '.default', spec -> k -> 'default', col.type);
        if expr is not null then
          expr := pg_catalog.format('coalesce(%s, %s)', expr, literal);
        end if;
      elsif col.attnotnull and col.default_sql is not null and expr is not null then
        -- a source that can be null, for a NOT NULL column: the column's own default
        expr := pg_catalog.format('coalesce(%s, %s)', expr, col.default_sql);
      end if;
    end if;
    if owner not in ('auth', 'app', 'insert') then
      raise exception '%.owner: auth, app or insert', field using errcode = '22023';
    end if;
    if src in ('email', 'phone', 'full_name', 'avatar_url') or src like 'user_metadata.%' then
      personal := personal || k;
    end if;
    out_columns := out_columns || pg_catalog.jsonb_build_object(k,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'from', src, 'value', spec -> k -> 'value', 'owner', owner, 'default', spec -> k -> 'default',
        'type', col.type, 'enum', col.is_enum, 'not_null', col.attnotnull, 'sql', expr,
        'column_default', col.default_sql)));
  end loop;
  mapped := array(select pg_catalog.jsonb_object_keys(out_columns));

  -- soft delete: {at}, {flag, active, at?} or null
  soft := case when m ? 'soft_delete' then m -> 'soft_delete'
    when exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = 'deleted_at' and not a.attisdropped)
      then d -> 'soft_delete'
    else 'null'::jsonb end;
  if pg_catalog.jsonb_typeof(soft) = 'object' then
    if exists (select 1 from pg_catalog.jsonb_object_keys(soft) x where x not in ('at', 'flag', 'active')) then
      raise exception 'mapping.soft_delete: only at, flag and active are allowed' using errcode = '22023';
    end if;
    if not (soft ? 'at' or soft ? 'flag') then
      raise exception 'mapping.soft_delete: name a timestamp column (at) or a boolean column (flag), or use null'
        using errcode = '22023';
    end if;
    if soft ? 'at' then
      perform profile_sync.mapping_check_column('mapping.soft_delete.at', target, soft ->> 'at',
        array['timestamp with time zone', 'timestamp without time zone'], mapped || key_name);
    end if;
    if soft ? 'flag' then
      perform profile_sync.mapping_check_column('mapping.soft_delete.flag', target, soft ->> 'flag', array['boolean'], mapped || key_name);
      if pg_catalog.jsonb_typeof(coalesce(soft -> 'active', 'true')) <> 'boolean' then
        raise exception 'mapping.soft_delete.active: true or false (the flag''s value for an active user)' using errcode = '22023';
      end if;
      soft := soft || pg_catalog.jsonb_build_object('active', coalesce(soft -> 'active', 'true'));
    end if;
  elsif pg_catalog.jsonb_typeof(soft) <> 'null' then
    raise exception 'mapping.soft_delete: {"at": …}, {"flag": …, "active": …, "at": …} or null' using errcode = '22023';
  end if;

  -- clear_on_soft_delete: mapped columns; a NOT NULL one needs a default to clear to
  clear := coalesce(m -> 'clear_on_soft_delete', pg_catalog.to_jsonb(personal));
  if pg_catalog.jsonb_typeof(clear) <> 'array' then
    raise exception 'mapping.clear_on_soft_delete: an array of mapped columns' using errcode = '22023';
  end if;
  for k in select x from pg_catalog.jsonb_array_elements_text(clear) x loop
    if not k = any (mapped) then
      raise exception 'mapping.clear_on_soft_delete: % is not a mapped column', k using errcode = '22023';
    end if;
    if (out_columns -> k ->> 'not_null')::boolean and not (out_columns -> k ? 'default') and not (out_columns -> k ? 'column_default') then
      raise exception 'mapping.clear_on_soft_delete: % is NOT NULL without a default to clear it to (give it a "default")', k
        using errcode = '22023';
    end if;
  end loop;

  -- user_editable: app-owned mapped columns, or columns profile-sync does not map; never the role
  -- or anything auth owns
  editable := coalesce(m -> 'user_editable',
    pg_catalog.to_jsonb(array(
      select x from pg_catalog.jsonb_array_elements_text(d -> 'user_editable') x
      where out_columns -> x ->> 'owner' = 'app')));
  if pg_catalog.jsonb_typeof(editable) <> 'array' then
    raise exception 'mapping.user_editable: an array of column names' using errcode = '22023';
  end if;
  for k in select x from pg_catalog.jsonb_array_elements_text(editable) x loop
    if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped) then
      raise exception 'mapping.user_editable: column % does not exist in %', k, target_name using errcode = '22023';
    end if;
    if k = key_name then
      raise exception 'mapping.user_editable: % is the key (it holds auth.users.id); users may never write it', k using errcode = '22023';
    end if;
    if out_columns -> k ->> 'from' = 'role' or k ~* '^(.*_)?roles?$' then
      raise exception 'mapping.user_editable: % holds the role; users may never write it', k using errcode = '22023';
    end if;
    if k = key_name or k = soft ->> 'at' or k = soft ->> 'flag' or (out_columns ? k and out_columns -> k ->> 'owner' <> 'app') then
      raise exception 'mapping.user_editable: % is owned by auth (or written once); users may not write it', k using errcode = '22023';
    end if;
  end loop;

  -- clean: the rule each user-editable text column's values pass (36_user_writes.sql); by kind
  -- of column when the mapping names none
  clean_in := coalesce(m -> 'clean', '{}'::jsonb);
  if pg_catalog.jsonb_typeof(clean_in) <> 'object' then
    raise exception 'mapping.clean: an object of user-editable column → "url", "name", "text" or "storage_path" (or {"rule": …, "max_length": …})'
      using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(clean_in) loop
    if not editable ? k then
      raise exception 'mapping.clean.%: % is not in user_editable (rules are for what users write)', k, k using errcode = '22023';
    end if;
  end loop;
  for k in select x from pg_catalog.jsonb_array_elements_text(editable) x loop
    field := 'mapping.clean.' || k;
    select pg_catalog.format_type(a.atttypid, a.atttypmod) into col_type
    from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped;
    if not (col_type in ('text', 'citext') or col_type ~ '^(character varying|character)(\(\d+\))?$') then
      if clean_in ? k then
        raise exception '%: % is %; rules are for text columns', field, k, col_type using errcode = '22023';
      end if;
      continue;
    end if;
    rule := case
      when not clean_in ? k then profile_sync._clean_rule_default(k, out_columns -> k ->> 'from')
      when pg_catalog.jsonb_typeof(clean_in -> k) = 'string' then clean_in ->> k
      when pg_catalog.jsonb_typeof(clean_in -> k) = 'object' then clean_in -> k ->> 'rule'
    end;
    if pg_catalog.jsonb_typeof(clean_in -> k) = 'object' and exists (
      select 1 from pg_catalog.jsonb_object_keys(clean_in -> k) x where x not in ('rule', 'max_length')) then
      raise exception '%: only rule and max_length are allowed', field using errcode = '22023';
    end if;
    if rule is null or rule not in ('url', 'name', 'text', 'storage_path') then
      raise exception '%: "url", "name", "text" or "storage_path" (or {"rule": …, "max_length": …})', field using errcode = '22023';
    end if;
    if (clean_in -> k) ? 'max_length' and (pg_catalog.jsonb_typeof(clean_in -> k -> 'max_length') <> 'number'
        or (clean_in -> k ->> 'max_length') !~ '^[1-9][0-9]{0,6}$') then
      raise exception '%.max_length: a whole number from 1 to 9999999', field using errcode = '22023';
    end if;
    clean := clean || pg_catalog.jsonb_build_object(k, pg_catalog.jsonb_build_object('rule', rule, 'max_length', least(
      coalesce((clean_in -> k ->> 'max_length')::integer, profile_sync._clean_rule_cap(rule)),
      coalesce(pg_catalog.substring(col_type, '\((\d+)\)')::integer, 2147483647))));
  end loop;

  -- NOT NULL columns without a default must be mapped
  select a.attname into k
  from pg_catalog.pg_attribute a
  left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped and a.attnotnull and ad.adbin is null
    and a.attidentity = '' and a.attgenerated = ''
    and a.attname <> key_name and not a.attname = any (mapped)
    and a.attname is distinct from soft ->> 'at' and a.attname is distinct from soft ->> 'flag'
  order by a.attnum limit 1;
  if found then
    raise exception 'mapping.columns: % is NOT NULL without a default: map it (a source, or {"value": …})', k
      using errcode = '22023';
  end if;

  -- roles
  roles := coalesce(m -> 'roles', '{}'::jsonb);
  if pg_catalog.jsonb_typeof(roles) <> 'object' then
    raise exception 'mapping.roles: {"default": …, "self_assignable": […]}' using errcode = '22023';
  end if;
  roles := (d -> 'roles') || roles;
  if pg_catalog.jsonb_typeof(roles -> 'default') <> 'string' or roles ->> 'default' !~ '^[A-Za-z0-9_.:-]{1,100}$' then
    raise exception 'mapping.roles.default: a role name of letters, digits, _ . : - (at most 100)' using errcode = '22023';
  end if;
  if pg_catalog.jsonb_typeof(roles -> 'self_assignable') <> 'array' or exists (
    select 1 from pg_catalog.jsonb_array_elements(roles -> 'self_assignable') r
    where pg_catalog.jsonb_typeof(r) <> 'string' or r #>> '{}' !~ '^[A-Za-z0-9_.:-]{1,100}$'
  ) then
    raise exception 'mapping.roles.self_assignable: an array of role names' using errcode = '22023';
  end if;

  return pg_catalog.jsonb_build_object(
    'table', pg_catalog.format('%I.%I',
      (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target),
      (select c.relname from pg_catalog.pg_class c where c.oid = target)),
    'key', key_name,
    'columns', out_columns,
    'soft_delete', soft,
    'clear_on_soft_delete', clear,
    'user_editable', editable,
    'clean', clean,
    'roles', roles);
end
$$;

/*
 * profile_sync.normalise_default_profiles(mapping): normalise_mapping for a mapping that targets
 * public.profiles before it exists: checked against the table create_default_profiles makes, in
 * a savepoint that is rolled back. Internal.
 */
create or replace function profile_sync.normalise_default_profiles(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  result jsonb;
begin
  begin
    perform profile_sync.create_default_profiles();
    result := profile_sync.normalise_mapping(mapping);
    raise exception using errcode = 'P0004', message = 'rollback';
  exception when sqlstate 'P0004' then
    null;  -- the table is gone again; result stays
  end;
  return result;
end
$$;

/*
 * profile_sync.mapping_literal(field, value, column_type): a JSON constant as an SQL literal of
 * the column's type, checked by casting it now. Internal.
 */
create or replace function profile_sync.mapping_literal(field text, value jsonb, column_type text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  literal text;
begin
  if value is null or pg_catalog.jsonb_typeof(value) = 'null' then
    return pg_catalog.format('null::%s', column_type);
  end if;
  literal := pg_catalog.format('%L::%s',
    case when pg_catalog.jsonb_typeof(value) = 'string' then value #>> '{}' else value::text end, column_type);
  begin
    execute 'select ' || literal;
  exception when others then
    raise exception '%: % is not a valid % (%)', field, value, column_type, sqlerrm using errcode = '22023';
  end;
  return literal;
end
$$;

/*
 * profile_sync.mapping_check_column(field, table, column, types, taken): raises unless column
 * exists in table with one of types and is not among taken. Internal.
 */
create or replace function profile_sync.mapping_check_column(field text, target regclass, col text, types text[], taken text[])
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  col_type text;
begin
  select pg_catalog.format_type(a.atttypid, a.atttypmod) into col_type
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = col and a.attnum > 0 and not a.attisdropped;
  if col_type is null then
    raise exception '%: column % does not exist in %', field, col, target using errcode = '22023';
  end if;
  if not col_type = any (types) then
    raise exception '%: column % is %; it must be %', field, col, col_type, pg_catalog.array_to_string(types, ' or ')
      using errcode = '22023';
  end if;
  if col = any (taken) then
    raise exception '%: column % is also mapped in columns (or is the key)', field, col using errcode = '22023';
  end if;
end
$$;

/*
 * profile_sync._tables_written(body): the tables a function body writes (insert into, update,
 * delete from, merge into), as (schema, name) the way Postgres reads the names (unquoted ones
 * folded to lower case; schema null when unqualified). A reading of the text, not a parse: enough
 * to recognise a pasted handle_new_user. Internal: replace_pasted_triggers compares the names
 * with the target's exactly.
 */
create or replace function profile_sync._tables_written(body text)
returns table (schema_name text, table_name text)
language plpgsql
immutable
set search_path = ''
as $$
declare
  written text[];
  parts text[];
begin
  for written in
    select pg_catalog.regexp_matches(body,
      '\m(?:insert\s+into|update|delete\s+from|merge\s+into)\s+((?:"(?:[^"]|"")+"|[^\s(;,."]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s(;,."]+))?)',
      'gi')
  loop
    begin
      parts := pg_catalog.parse_ident(written[1], false);
    exception when others then
      continue;  -- not a name after all
    end;
    if pg_catalog.cardinality(parts) = 2 then
      return query select parts[1], parts[2];
    elsif pg_catalog.cardinality(parts) = 1 then
      return query select null::text, parts[1];
    end if;
  end loop;
end
$$;

/*
 * profile_sync.replace_pasted_triggers(target): takes the triggers on auth.users (not
 * profile-sync's own) whose function writes the target table — the pasted handle_new_user and its
 * kind — out of the signup, so users are synced once, by profile-sync, and a signup can no longer
 * fail in them. The trigger is dropped where the migration's role may (hosted Supabase lets
 * postgres drop triggers on auth tables); where it may not (auth.users belongs to Auth), its
 * function — a trigger function, which only triggers can call — is replaced by one that does
 * nothing, with a comment saying so. Returns what was replaced as "trigger → function (how)".
 * Internal: called by apply_mapping, in the same transaction that makes profile-sync's trigger
 * the one that syncs.
 */
create or replace function profile_sync.replace_pasted_triggers(target regclass)
returns text[]
language plpgsql
volatile
set search_path = ''
as $$
declare
  t record;
  rel_name text := (select c.relname from pg_catalog.pg_class c where c.oid = target);
  rel_schema text := (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target);
  replaced text[] := '{}';
  how text;
begin
  for t in
    select tg.tgname, p.oid as fn, p.oid::regprocedure::text as function, p.prolang
    from pg_catalog.pg_trigger tg
    join pg_catalog.pg_proc p on p.oid = tg.tgfoid
    where tg.tgrelid = 'auth.users'::regclass and not tg.tgisinternal
      and p.pronamespace <> 'profile_sync'::regnamespace
      -- the body names the table (qualified or not) in a statement that writes it: names compared
      -- exactly, as Postgres reads them
      and exists (
        select 1 from profile_sync._tables_written(p.prosrc) w
        where w.table_name = rel_name and (w.schema_name is null or w.schema_name = rel_schema))
  loop
    begin
      execute pg_catalog.format('drop trigger %I on auth.users', t.tgname);
      how := 'dropped';
    exception when insufficient_privilege then
      execute pg_catalog.format('create or replace function %s returns trigger language plpgsql as %L', t.function,
        ' begin if tg_op = ''DELETE'' then return old; end if; return new; end ');
      execute pg_catalog.format('comment on function %s is %L', t.function,
        'Neutralised by profile-sync (apply_mapping, ' || pg_catalog.now()::date || '): it wrote ' || target::text
        || ', which profile-sync now keeps. Drop trigger ' || t.tgname || ' on auth.users when you can.');
      how := 'function neutralised: no privilege to drop the trigger';
    end;
    replaced := replaced || pg_catalog.format('%s → %s (%s)', t.tgname, t.function, how);
    raise notice 'profile_sync: replaced trigger % on auth.users (it wrote %): %', t.tgname, target, how;
  end loop;
  return replaced;
end
$$;

/*
 * profile_sync.apply_mapping(mapping): makes mapping the one in force, in one transaction:
 * validates it (normalise_mapping), creates public.profiles for the default mapping if absent,
 * stores it, compiles the sync core and the users' write guard for the table (_compile_mapping),
 * takes from anon/authenticated only what users never need (_limit_user_grants: the app's own
 * grants and RLS policies are kept, so its profile form keeps working), and only then replaces
 * the pasted triggers on auth.users that write the table: a mapping that fails anywhere leaves
 * the pasted trigger syncing every signup (never a half-install). Existing rows are adopted as
 * they are: the first sync of each keeps every app-owned value that differs from auth (see
 * sync_decisions). Returns the normalised mapping. Callers: the database owner (a migration).
 */
create or replace function profile_sync.apply_mapping(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  m jsonb := profile_sync.normalise_mapping(mapping);
  target regclass;
  replaced text[];
  previous text;
begin
  if m ->> 'table' = 'public.profiles' and pg_catalog.to_regclass('public.profiles') is null then
    perform profile_sync.create_default_profiles();
  end if;
  target := (m ->> 'table')::regclass;

  -- Another table (or key): the bookkeeping was the old table's merge base; the new table is
  -- adopted afresh. A previous target keeps its rows; it only stops being synced.
  select s.target_table into previous from profile_sync.settings s
  where s.target_table <> m ->> 'table' or s.target_key <> m ->> 'key';
  if found then
    truncate profile_sync.profile_state;
    if pg_catalog.to_regclass(previous) is not null then
      execute pg_catalog.format('drop trigger if exists profile_sync_user_edits on %s', previous);
      execute pg_catalog.format('drop trigger if exists profile_sync_user_writes on %s', previous);
    end if;
  end if;
  insert into profile_sync.settings as s (mapping, target_table, target_key, default_role, self_assignable_roles)
  values (m, m ->> 'table', m ->> 'key', m #>> '{roles,default}',
    array(select pg_catalog.jsonb_array_elements_text(m #> '{roles,self_assignable}')))
  on conflict (singleton) do update set
    mapping = excluded.mapping,
    target_table = excluded.target_table,
    target_key = excluded.target_key,
    default_role = excluded.default_role,
    self_assignable_roles = excluded.self_assignable_roles,
    applied_at = now();

  perform profile_sync._limit_user_grants(target, m);
  perform profile_sync._compile_mapping();

  -- last: the pasted trigger goes only with a compiled core in the same transaction
  replaced := profile_sync.replace_pasted_triggers(target);
  update profile_sync.settings s set replaced_triggers = s.replaced_triggers || replaced;
  return m;
end
$$;

/*
 * profile_sync.recompile(): compiles the sync core again for the mapping in force (after an
 * upgrade of profile-sync changed its templates); nothing when no mapping is applied yet.
 */
create or replace function profile_sync.recompile()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if exists (select 1 from profile_sync.settings) then
    perform profile_sync._compile_mapping();
  end if;
end
$$;
