-- The sync core: the three-way merge (sync_decisions) and the one statement that applies it
-- (sync_users), compiled for the table the mapping in force names (compile_sync_core); the
-- failure isolation every path syncs through (sync_isolated); and sync-profile's one call
-- (sync_profile).
--
-- Why compiled: the merge reads and writes the target's own columns, and a set-based statement
-- can only name columns it knows when it is planned. compile_sync_core writes static SQL for the
-- mapping (no dynamic SQL per row or per call); the templates below are the one definition of the
-- merge. `select profile_sync.compiled_sql()` shows what is in force.

/*
 * profile_sync.sync_lock_class(): the first key of the transaction-level advisory locks that
 * serialise syncs of the same user ('prst' in ASCII). profile_sync.reconcile_lock_key() is the
 * reconcile's.
 */
create or replace function profile_sync.sync_lock_class()
returns integer
language sql
immutable
parallel safe
set search_path = '' -- a constant: folded into its callers' plans all the same
as $$
  select 1886548852
$$;

/*
 * profile_sync.key_range(id): the key range of a user id, one of 1024: its first 10 bits. Syncs
 * lock ranges, not users (a batch of any size holds at most 1024 locks), and reconcile pages end
 * on range boundaries so that pages synced in parallel rarely wait for each other. Auth's ids are
 * random (v4), so ranges fill evenly.
 * No SET clause: inlined per user into reconcile's page statements and lock_key_ranges (a SET
 * clause would forbid that); every name in it is qualified.
 */
create or replace function profile_sync.key_range(id uuid)
returns integer
language sql
immutable
parallel safe
as $$
  select (pg_catalog.get_byte(pg_catalog.uuid_send(id), 0) * 4 + pg_catalog.get_byte(pg_catalog.uuid_send(id), 1) / 64)::integer
$$;

/*
 * profile_sync.lock_key_ranges(ids): takes the transaction-level advisory lock of each key range
 * the ids fall in, in range order (so concurrent syncs never deadlock one another). Two users in
 * the same range merely wait for each other; a reconcile page of consecutive ids holds two or
 * three ranges. Internal: called by sync_users.
 */
create or replace function profile_sync.lock_key_ranges(ids uuid[])
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), r.key_range)
  from (
    select distinct profile_sync.key_range(i.id) as key_range from pg_catalog.unnest(ids) as i (id) where i.id is not null
  ) r
  order by r.key_range
$$;

/*
 * The compiled core's generated names (the legend, written once). Inside the compiled statement,
 * every value of a mapped column c travels under a quoted name "<what>:c":
 *   "auth:c"          what auth says c should hold (its source; for the role, the policy's result)
 *   "row:c"           what the target row holds now (null when there is no row)
 *   "new:c"           what the sync writes
 *   "synced:c"        the merge base: the value last synced from auth (profile_state."synced:c")
 *   "edited:c"        the sticky app-edit flag as stored (profile_state."edited:c")
 *   "keep:c"          the decision: the app edited c, so its value is kept
 *   "next_synced:c"   "next_edited:c"   what profile_state holds after the sync
 * The statement's own names (id, in_auth, has_profile, base_role, …) have no colon, and every
 * generated name starts with a fixed word and a colon: a user's column, whatever it is called,
 * meets neither (a column "deleted_at" gives "auth:deleted_at", never the statement's
 * auth_deleted_at). Columns of the target itself are only ever read qualified (p.c, t.c, new.c).
 */
create or replace function profile_sync._name(what text, col text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select pg_catalog.quote_ident(what || ':' || col)
$$;

/*
 * profile_sync._comment_safe(name): a name as it may appear inside a `--` comment of generated
 * SQL: control characters (a newline would end the comment and turn the rest into code) dropped.
 * Internal.
 */
create or replace function profile_sync._comment_safe(name text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select pg_catalog.regexp_replace(name, '[[:cntrl:]]', '', 'g')
$$;

/*
 * profile_sync._fill(template, pieces): the template with each {{name}} replaced by
 * pieces ->> name, in one pass (a piece is never scanned for further names). The compilers below
 * write their SQL as templates with named pieces; a name with no piece raises. Internal.
 */
create or replace function profile_sync._fill(template text, pieces jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  texts text[] := pg_catalog.regexp_split_to_array(template, '\{\{[a-z_]+\}\}');
  names text[] := array(
    select m.m[1] from pg_catalog.regexp_matches(template, '\{\{([a-z_]+)\}\}', 'g') with ordinality as m (m, n)
    order by m.n);
  filled text := texts[1];
begin
  for i in 1 .. coalesce(pg_catalog.cardinality(names), 0) loop
    if not pieces ? names[i] then
      raise exception 'compile_sync_core: no piece named % for the template', names[i];
    end if;
    filled := filled || (pieces ->> names[i]) || texts[i + 1];
  end loop;
  return filled;
end
$$;

/*
 * profile_sync._function_sql(header, body, pieces): a CREATE FUNCTION statement: the header
 * template filled, then AS and the filled body as one quoted literal (never dollar quotes, which
 * a value inside the body could close). Internal.
 */
create or replace function profile_sync._function_sql(header text, body text, pieces jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select profile_sync._fill(header, pieces) || E'\nas ' || pg_catalog.quote_literal(profile_sync._fill(body, pieces))
$$;

/*
 * profile_sync._column_plan(mapping): one row per column the compiled sync writes, in order: the
 * mapped columns (by name), then the soft-delete columns. For each:
 *   rule        auth (always follows auth), app (three-way merge), insert (written on creation);
 *               the soft-delete columns are auth-owned;
 *   soft        'at' / 'flag' for the soft-delete columns, else null;
 *   source_sql  SQL over auth.users u giving "auth:c" (null: the role and soft-delete columns,
 *               which the statement derives later);
 *   auth_value  SQL over the statement's row x for what auth says c should hold;
 *   clear_value SQL for the value a soft delete leaves in c (null: a soft delete keeps c).
 * Every name is quoted with %I, every value from the mapping with %L (the sources' SQL was built
 * so by normalise_mapping). Internal: the compilers read it.
 */
create or replace function profile_sync._column_plan(mapping jsonb)
returns table (ord integer, col text, col_type text, rule text, soft text, source_sql text, auth_value text, clear_value text)
language sql
stable
set search_path = ''
rows 20
as $$
  with soft as (
    select mapping -> 'soft_delete' as spec,
      pg_catalog.jsonb_typeof(mapping -> 'soft_delete') = 'object' as marks
  ),
  cleared as (
    select pg_catalog.jsonb_array_elements_text(mapping -> 'clear_on_soft_delete') as col
  )
  select (pg_catalog.row_number() over (order by c.key))::integer, c.key, c.value ->> 'type', c.value ->> 'owner', null::text,
      case when c.value ->> 'from' is distinct from 'role' then c.value ->> 'sql' end,
      case
        when c.value ->> 'from' is distinct from 'role' then pg_catalog.format('x.%s', profile_sync._name('auth', c.key))
        -- an enum column takes only its own labels: another role is null, then the column's default
        when (c.value ->> 'enum')::boolean then pg_catalog.format(
          'coalesce(case when x.role_value = any (pg_catalog.enum_range(null::%s)::text[]) then x.role_value::%s end, %s)',
          c.value ->> 'type', c.value ->> 'type', coalesce(c.value ->> 'column_default', 'null'))
        else 'x.role_value'
      end,
      case when s.marks and c.key in (select cl.col from cleared cl) then coalesce(
        case when c.value ? 'default' then profile_sync.mapping_literal(c.key, c.value -> 'default', c.value ->> 'type') end,
        case when (c.value ->> 'not_null')::boolean then c.value ->> 'column_default' end,
        pg_catalog.format('null::%s', c.value ->> 'type'))
      end
  from pg_catalog.jsonb_each(mapping -> 'columns') c, soft s
  union all
  select 1000001, s.spec ->> 'at',
    pg_catalog.format_type(a.atttypid, a.atttypmod), 'auth', 'at', null,
    pg_catalog.format('x.auth_deleted_at::%s', pg_catalog.format_type(a.atttypid, a.atttypmod)), null
  from soft s
  join pg_catalog.pg_attribute a on a.attrelid = (mapping ->> 'table')::regclass and a.attname = s.spec ->> 'at'
    and a.attnum > 0 and not a.attisdropped
  where s.spec ? 'at'
  union all
  select 1000002, s.spec ->> 'flag', 'boolean', 'auth', 'flag', null,
    pg_catalog.format('(x.auth_deleted_at is null) = %L::boolean', s.spec ->> 'active'), null
  from soft s
  where s.spec ? 'flag'
  order by 1
$$;

/*
 * profile_sync._compile_decisions(mapping): the statement that creates sync_decisions(ids), what
 * a sync of the users would do (the merge), one row per distinct id, without doing it. The rules
 * (DESIGN "Profile rules", for any mapping):
 * - auth-owned columns always follow auth; insert-owned ones are written when the row is created;
 * - app-owned columns (full_name, avatar_url, role by default) follow auth until the app edits
 *   them (the current value differs from the value last synced), then never again. A row the
 *   sync has never seen (adopted with the table) counts as edited where it holds a value that
 *   differs from auth (a null is filled from auth);
 * - role: raw_app_meta_data.role, else the creation-time decision: user metadata's role if
 *   self-assignable, when the profile is created, else the default role (settings);
 * - soft delete (auth deleted_at): marks the row (timestamp and/or flag) and clears the listed
 *   columns; hard delete: the row goes;
 * - an auth state older than the one last synced is never applied; nothing changed, nothing written.
 * Internal: compile_sync_core executes it.
 */
create or replace function profile_sync._compile_decisions(mapping jsonb)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  target constant text := mapping ->> 'table';
  key constant text := pg_catalog.quote_ident(mapping ->> 'key');
  pieces jsonb;
begin
  with plan as (
    select p.*, p.clear_value is not null as cleared
    from profile_sync._column_plan(mapping) p
  ),
  -- what the function returns per column: the values the callers read (sync_users writes "new:c",
  -- the preview compares "row:c", and the bookkeeping of app-owned columns)
  outputs as (
    select p.ord, o.n, o.name, o.type
    from plan p
    cross join lateral (values
      (1, profile_sync._name('new', p.col), p.col_type),
      (2, profile_sync._name('row', p.col), p.col_type),
      (3, profile_sync._name('auth', p.col), p.col_type),
      (4, profile_sync._name('keep', p.col), 'boolean'),
      (5, profile_sync._name('next_synced', p.col), p.col_type),
      (6, profile_sync._name('next_edited', p.col), 'boolean')
    ) as o (n, name, type)
    where o.n <= 2 or p.rule = 'app'
  )
  select pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(target),
    'key_comment', profile_sync._comment_safe(key),
    'table', target,
    'key', key,
    'columns', (select pg_catalog.string_agg(pg_catalog.format('%s %s', o.name, o.type), E',\n  ' order by o.ord, o.n) from outputs o),
    'outputs', (select pg_catalog.string_agg('d.' || o.name, E',\n    ' order by o.ord, o.n) from outputs o),
    'soft_deleted', case when pg_catalog.jsonb_typeof(mapping -> 'soft_delete') = 'object'
      then 'u.deleted_at is not null' else 'false' end,
    -- source: what each table holds, read once per user
    'source_columns', coalesce((select pg_catalog.string_agg(x.line, '' order by x.ord, x.n) from (
        select p.ord, 1 as n, pg_catalog.format(E',\n      %s as %s', p.source_sql, profile_sync._name('auth', p.col)) as line
        from plan p where p.source_sql is not null
        union all
        select p.ord, 2, pg_catalog.format(E',\n      p.%I as %s', p.col, profile_sync._name('row', p.col)) from plan p
        union all
        select p.ord, 3, pg_catalog.format(E',\n      s.%s as %s, s.%s as %s',
          profile_sync._name('synced', p.col), profile_sync._name('synced', p.col),
          profile_sync._name('edited', p.col), profile_sync._name('edited', p.col))
        from plan p where p.rule = 'app'
      ) x), ''),
    -- keep: has the app edited an app-owned column (the three-way merge's question)
    'keep_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(
        E',\n      case when x.has_state then x.%2$s or (x.has_profile and x.%1$s is distinct from x.%3$s)' ||
        E'\n        else x.has_profile and x.%1$s is not null and x.%1$s is distinct from %4$s end as %5$s',
        profile_sync._name('row', p.col), profile_sync._name('edited', p.col), profile_sync._name('synced', p.col),
        p.auth_value, profile_sync._name('keep', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    -- new: what the sync writes, by the column's rule
    'new_columns', (select pg_catalog.string_agg(E',\n      ' || case p.rule
        when 'insert' then pg_catalog.format('case when x.has_profile then x.%s else %s end',
          profile_sync._name('row', p.col), p.auth_value)
        when 'app' then pg_catalog.format('case%s when x.%s then x.%s else %s end',
          case when p.cleared then pg_catalog.format(' when x.soft_deleted then %s', p.clear_value) else '' end,
          profile_sync._name('keep', p.col), profile_sync._name('row', p.col), p.auth_value)
        else case when p.cleared then pg_catalog.format('case when x.soft_deleted then %s else %s end', p.clear_value, p.auth_value)
          else p.auth_value end
      end || ' as ' || profile_sync._name('new', p.col), '' order by p.ord)
      from plan p),
    -- next: the bookkeeping of app-owned columns (a cleared column starts afresh)
    'next_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(
        E',\n      case%1$s when x.%2$s then x.%3$s else x.%4$s end as %5$s,' ||
        E'\n      x.%2$s%6$s as %7$s%8$s',
        case when p.cleared then ' when x.soft_deleted then null' else '' end,
        profile_sync._name('keep', p.col), profile_sync._name('synced', p.col), profile_sync._name('new', p.col),
        profile_sync._name('next_synced', p.col), case when p.cleared then ' and not x.soft_deleted' else '' end,
        profile_sync._name('next_edited', p.col),
        -- the role's "auth:c" is the policy's result, known only from here on
        case when p.source_sql is null then pg_catalog.format(E',\n      %s as %s', p.auth_value, profile_sync._name('auth', p.col)) else '' end),
        '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    'changed', coalesce((select pg_catalog.string_agg(pg_catalog.format(E'\n      or d.%s is distinct from d.%s',
        profile_sync._name('row', p.col), profile_sync._name('new', p.col)), '' order by p.ord)
      from plan p where p.rule <> 'insert'), ''),
    'stored_state', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
        profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    'next_state', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
        profile_sync._name('next_synced', p.col), profile_sync._name('next_edited', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    -- a soft-deleted user whose row is not marked yet is 'deleted' (the flag, when there is one, says)
    'not_marked', coalesce((select pg_catalog.format(
        case p.soft when 'flag' then 'd.%1$s is distinct from d.%2$s' else 'd.%1$s is null' end,
        profile_sync._name('row', p.col), profile_sync._name('new', p.col))
      from plan p where p.soft is not null order by p.soft = 'flag' desc limit 1), 'false')
  ) into pieces;

  return profile_sync._function_sql($tpl$create function profile_sync.sync_decisions(ids uuid[])
returns table (
  user_id uuid, in_auth boolean, has_profile boolean, has_state boolean, applies boolean,
  profile_changes boolean, state_changes boolean, outcome text, soft_deleted boolean,
  {{columns}},
  base_role text, auth_updated_at timestamptz
)
language sql
stable
-- No SET clause (search_path, jit): its callers inline it into their own statement, which a SET
-- clause would prevent; every name in it is qualified, and its callers carry both settings.
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}} (key {{key_comment}});
  -- the names "<what>:<column>" are explained above profile_sync._name
  with wanted as (
    select distinct w.id from pg_catalog.unnest($1) as w (id) where w.id is not null
  ),
  -- each table probed through its key for the wanted ids, the settings joined once; offset 0 keeps
  -- this level a subquery of its own, so each mapped value is computed once per user
  source as (
    select
      w.id,
      u.id is not null as in_auth,
      p.{{key}} is not null as has_profile,
      s.user_id is not null as has_state,
      u.updated_at as auth_updated_at,
      {{soft_deleted}} as soft_deleted,
      u.deleted_at as auth_deleted_at,
      profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100) as app_role,
      profile_sync.clean_text(u.raw_user_meta_data -> 'role', 100) as claimed_role,
      ps.default_role,
      ps.self_assignable_roles,
      s.initial_role as stored_initial_role,
      s.auth_updated_at as stored_auth_updated_at{{source_columns}}
    from wanted w
    -- the one settings row (limit 1: so estimated, not as a page's worth of rows)
    cross join (select s.default_role, s.self_assignable_roles from profile_sync.settings s limit 1) ps
    left join auth.users u on u.id = w.id
    left join {{table}} p on p.{{key}} = w.id
    left join profile_sync.profile_state s on s.user_id = w.id
    offset 0
  ),
  based as (
    select
      x.*,
      coalesce(
        x.stored_initial_role,
        case
          when not x.has_profile and x.claimed_role = any (x.self_assignable_roles) then x.claimed_role
          else x.default_role
        end
      ) as base_role,
      -- version guard: an auth state older than the one last synced is never applied
      x.stored_auth_updated_at is not null and x.auth_updated_at is not null
        and x.auth_updated_at < x.stored_auth_updated_at as is_older
    from source x
  ),
  valued as (
    select x.*, coalesce(x.app_role, x.base_role) as role_value
    from based x
  ),
  merged as (
    select x.*{{keep_columns}}
    from valued x
  ),
  target as (
    select x.*, x.in_auth and not x.is_older as applies{{new_columns}}
    from merged x
  ),
  decided as (
    select x.*{{next_columns}}
    from target x
  )
  select
    d.id, d.in_auth, d.has_profile, d.has_state, d.applies,
    not d.has_profile{{changed}} as profile_changes,
    row(d.stored_initial_role, d.stored_auth_updated_at{{stored_state}})
      is distinct from row(d.base_role, d.auth_updated_at{{next_state}}) as state_changes,
    case
      when not d.in_auth then case when d.has_profile then 'deleted' else 'not_found' end
      when d.is_older then 'unchanged'
      when d.soft_deleted and (not d.has_profile or {{not_marked}}) then 'deleted'
      when not d.has_profile then 'created'
      when not d.has_profile{{changed}} then 'updated'
      else 'unchanged'
    end as outcome,
    d.soft_deleted,
    {{outputs}},
    d.base_role, d.auth_updated_at
  from decided d
$tpl$, pieces);
end
$$;

/*
 * profile_sync._compile_sync_users(mapping): the statement that creates sync_users(ids), which
 * does what sync_decisions decides: one statement writes the rows, the bookkeeping, and removes
 * the rows of users gone from auth; returns (user_id, outcome). Internal.
 */
create or replace function profile_sync._compile_sync_users(mapping jsonb)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  pieces jsonb;
begin
  with plan as (select * from profile_sync._column_plan(mapping))
  select pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'table', mapping ->> 'table',
    'key', pg_catalog.quote_ident(mapping ->> 'key'),
    'insert_columns', (select pg_catalog.string_agg(pg_catalog.format('%I', p.col), ', ' order by p.ord) from plan p),
    'insert_values', (select pg_catalog.string_agg('d.' || profile_sync._name('new', p.col), ', ' order by p.ord) from plan p),
    'on_conflict', coalesce(E'update set\n      ' || (select pg_catalog.string_agg(pg_catalog.format('%1$I = excluded.%1$I', p.col), E',\n      ' order by p.ord)
      from plan p where p.rule <> 'insert'), 'nothing'),
    'state_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(', %s, %s',
      profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), ''),
    'state_values', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
      profile_sync._name('next_synced', p.col), profile_sync._name('next_edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), ''),
    'state_updates', coalesce((select pg_catalog.string_agg(pg_catalog.format(E',\n      %1$s = excluded.%1$s, %2$s = excluded.%2$s',
      profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), '')
  ) into pieces;

  -- the two statements a sync runs, each written once: run as they are for a few ids, and through
  -- execute (their text as a literal) for many
  pieces := pieces || pg_catalog.jsonb_build_object('lock_rows', profile_sync._fill(
    $tpl$from {{table}} p where p.{{key}} = any ($1) order by p.{{key}} for no key update$tpl$, pieces));
  pieces := pieces || pg_catalog.jsonb_build_object('write', profile_sync._fill($tpl$with decided as materialized (
    select d.* from profile_sync.sync_decisions($1) d
  ),
  upserted as (
    insert into {{table}} as p ({{key}}, {{insert_columns}})
    select d.user_id, {{insert_values}}
    from decided d
    where d.applies and d.profile_changes
    order by d.user_id
    on conflict ({{key}}) do {{on_conflict}}
    returning p.{{key}}
  ),
  state_written as (
    -- first syncs insert their bookkeeping; later ones update it, only when something moved
    insert into profile_sync.profile_state as s (user_id, initial_role, auth_updated_at, synced_at{{state_columns}})
    select d.user_id, d.base_role, d.auth_updated_at, pg_catalog.now(){{state_values}}
    from decided d
    where d.applies and (not d.has_state or d.profile_changes or d.state_changes)
    order by d.user_id
    on conflict on constraint profile_state_pkey do update set
      initial_role = excluded.initial_role,
      auth_updated_at = excluded.auth_updated_at,
      synced_at = excluded.synced_at{{state_updates}}
    returning s.user_id
  ),
  removed as (
    delete from {{table}} p
    where p.{{key}} = any (array(select d.user_id from decided d where not d.in_auth))
    returning p.{{key}}
  )
  -- upserted, state_written and removed run to completion whether or not they are read
  select d.user_id, d.outcome from decided d order by d.user_id$tpl$, pieces));
  pieces := pieces || pg_catalog.jsonb_build_object(
    'lock_rows_literal', pg_catalog.quote_literal('select 1 ' || (pieces ->> 'lock_rows')),
    'write_literal', pg_catalog.quote_literal(pieces ->> 'write'));

  return profile_sync._function_sql($tpl$create or replace function profile_sync.sync_users(ids uuid[])
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
-- jit = off: see docs/reliability.md, "JIT". plan_cache_mode: see the body.
set jit = off
set plan_cache_mode = force_generic_plan
$tpl$, $tpl$
#variable_conflict use_column
begin
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  -- Syncs of the same user run one after another (lock_key_ranges); then the existing rows are
  -- locked in key order, the order in which Auth deleting users cascades (taken the other way
  -- round, a sync and Auth's delete of the same user can deadlock, and the one aborted may be
  -- Auth's). A new statement follows: a fresh snapshot taken after the locks, so auth is read as
  -- of now and every earlier sync of these users is seen.
  perform profile_sync.lock_key_ranges($1);

  -- Plans. A call for up to 100 users runs the statements as they are, on the plan this session
  -- made once (plan_cache_mode above): planning them (~2 ms) costs more than syncing a few users,
  -- and left to choose, Postgres would plan afresh on every call (the reused plan, estimated for
  -- unnest's 10 ids, never looks cheaper than one made for the actual 1). A larger call runs them
  -- through execute, planned for its own ids and for the tables as they are now, at ~1 % of its
  -- cost: a reused plan made while a table was empty reads that table whole for every user once
  -- it has grown, until autovacuum analyzes it (a reconcile of 20,000 missing users into an
  -- emptied table took 32 s that way, 2 s planned per call). Not by switching plan_cache_mode for
  -- the call: the foreign-key checks of every row written would be planned afresh too.
  if pg_catalog.cardinality($1) > 100 then
    execute {{lock_rows_literal}} using $1;
    return query execute {{write_literal}} using $1;
    return;
  end if;
  perform 1 {{lock_rows}};

  return query
  {{write}};
end
$tpl$, pieces);
end
$$;

/*
 * profile_sync._compile_preview(mapping): the statement that creates sync_preview(ids), the per-
 * column changes a sync would make in rows that exist, and the app-edited values it keeps although
 * auth differs (the dry run's report). Internal.
 */
create or replace function profile_sync._compile_preview(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select profile_sync._function_sql($tpl$create function profile_sync.sync_preview(ids uuid[])
returns table (user_id uuid, column_name text, from_value jsonb, to_value jsonb, kept boolean)
language sql
stable
set search_path = ''
set jit = off
rows 1000
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  select d.user_id, v.column_name, v.from_value, v.to_value, v.kept
  from profile_sync.sync_decisions($1) d
  cross join lateral (values
    {{columns}}
  ) as v (column_name, from_value, to_value, kept)
  where d.applies and d.has_profile and (v.from_value is distinct from v.to_value or v.kept)
$tpl$, pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'columns', coalesce((
      select pg_catalog.string_agg(pg_catalog.format('(%L, pg_catalog.to_jsonb(d.%s), pg_catalog.to_jsonb(d.%s), %s)',
        p.col, profile_sync._name('row', p.col), profile_sync._name('new', p.col),
        case when p.rule = 'app' then pg_catalog.format('d.%s and d.%s is distinct from d.%s',
          profile_sync._name('keep', p.col), profile_sync._name('row', p.col), profile_sync._name('auth', p.col))
          else 'false' end), E',\n    ' order by p.ord)
      from profile_sync._column_plan(mapping) p where p.rule <> 'insert'),
      '(null::text, null::jsonb, null::jsonb, false)')))
$$;

/*
 * profile_sync._compile_target_profile(mapping): the statement that creates target_profile(id),
 * the row as its user may read it (sync-profile's answer): the columns authenticated may select
 * (all, by default; the key alone when none), timestamps as JavaScript writes them (milliseconds
 * and Z). Internal.
 */
create or replace function profile_sync._compile_target_profile(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select profile_sync._function_sql($tpl$create or replace function profile_sync.target_profile(id uuid)
returns jsonb
language sql
stable
set search_path = ''
set jit = off
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  select pg_catalog.jsonb_build_object({{readable}}) from {{table}} t where t.{{key}} = $1
$tpl$, pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'table', mapping ->> 'table',
    'key', pg_catalog.quote_ident(mapping ->> 'key'),
    'readable', coalesce((
      select pg_catalog.string_agg(case pg_catalog.format_type(a.atttypid, null)
          when 'timestamp with time zone' then pg_catalog.format(
            '%L, pg_catalog.to_char(t.%I at time zone ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'')', a.attname, a.attname)
          else pg_catalog.format('%L, t.%I', a.attname, a.attname)
        end, ', ' order by a.attnum)
      from pg_catalog.pg_attribute a
      where a.attrelid = (mapping ->> 'table')::regclass and a.attnum > 0 and not a.attisdropped
        and pg_catalog.has_column_privilege('authenticated', (mapping ->> 'table')::regclass, a.attnum, 'select')),
      pg_catalog.format('%L, t.%I', mapping ->> 'key', mapping ->> 'key'))))
$$;

/*
 * profile_sync._compile_targets(mapping): the statement that points the view profile_sync.targets
 * (what drift and reconcile read: the target's keys) at the target. Internal.
 */
create or replace function profile_sync._compile_targets(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.format('create or replace view profile_sync.targets as select t.%I as id from %s t',
    mapping ->> 'key', (mapping ->> 'table')::regclass)
$$;

/*
 * profile_sync._add_bookkeeping(mapping): the columns profile_state needs for the mapping: per
 * app-owned column c, "synced:c" (of c's type; a column whose type changed starts afresh) and
 * "edited:c". Bookkeeping kept under the names used before (synced_c, c_edited) is renamed.
 * Internal.
 */
create or replace function profile_sync._add_bookkeeping(mapping jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  p record;
  existing text;
begin
  for p in select * from profile_sync._column_plan(mapping) x where x.rule = 'app' order by x.ord loop
    foreach existing in array array['synced', 'edited'] loop
      if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = 'profile_sync.profile_state'::regclass
          and a.attname = existing || ':' || p.col and not a.attisdropped)
        and exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = 'profile_sync.profile_state'::regclass
          and a.attname = case existing when 'synced' then 'synced_' || p.col else p.col || '_edited' end
          and a.attname not in ('user_id', 'initial_role', 'auth_updated_at', 'synced_at') and not a.attisdropped) then
        execute pg_catalog.format('alter table profile_sync.profile_state rename column %I to %s',
          case existing when 'synced' then 'synced_' || p.col else p.col || '_edited' end, profile_sync._name(existing, p.col));
      end if;
    end loop;
    if exists (
      select 1 from pg_catalog.pg_attribute a
      where a.attrelid = 'profile_sync.profile_state'::regclass and a.attname = 'synced:' || p.col
        and not a.attisdropped and pg_catalog.format_type(a.atttypid, a.atttypmod) <> p.col_type
    ) then
      execute pg_catalog.format('alter table profile_sync.profile_state drop column %s', profile_sync._name('synced', p.col));
    end if;
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %s %s',
      profile_sync._name('synced', p.col), p.col_type);
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %s boolean not null default false',
      profile_sync._name('edited', p.col));
  end loop;
end
$$;

/*
 * profile_sync.compile_sync_core(): (re)creates, for the mapping in profile_sync.settings:
 *   sync_decisions(ids)  what a sync of the users would do (the merge), without doing it;
 *   sync_users(ids)      does it: one statement, returns (user_id, outcome);
 *   sync_preview(ids)    the per-column changes a sync would make (the dry run's report);
 *   target_profile(id)   the row as its user may read it (sync-profile's answer);
 *   targets              a view of the target's keys (what drift and reconcile read);
 *   the users' write guard: its rules and its trigger on the target (_install_user_write_guard,
 *                        36_user_writes.sql);
 * and the bookkeeping columns the mapping needs in profile_state. Each comes from its own
 * compiler (_compile_*) over one column plan (_column_plan). Internal: called by apply_mapping
 * and recompile.
 */
create or replace function profile_sync.compile_sync_core()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  m jsonb;
  statement text;
begin
  select s.mapping into m from profile_sync.settings s;
  if not found then
    raise exception 'no mapping is applied: apply one first (profile_sync.apply_mapping)' using errcode = '55000';
  end if;

  perform profile_sync._add_bookkeeping(m);
  drop function if exists profile_sync.sync_preview(uuid[]);
  drop function if exists profile_sync.sync_decisions(uuid[]);
  execute profile_sync._compile_decisions(m);
  execute profile_sync._compile_sync_users(m);
  execute profile_sync._compile_preview(m);
  execute profile_sync._compile_target_profile(m);
  execute profile_sync._compile_targets(m);
  perform profile_sync._install_user_write_guard();

  revoke all on function profile_sync.sync_decisions(uuid[]) from public;
  revoke all on function profile_sync.sync_preview(uuid[]) from public;
  revoke all on function profile_sync.sync_users(uuid[]) from public, anon, authenticated;
  revoke all on function profile_sync.target_profile(uuid) from public, anon, authenticated;
  revoke all on table profile_sync.targets from public, anon, authenticated;
  grant execute on function profile_sync.sync_users(uuid[]) to service_role;
end
$$;

/*
 * profile_sync.compiled_sql(): the SQL compile_sync_core made for the mapping in force, for
 * reading (doctor and reviewers): the definitions of sync_decisions, sync_users, sync_preview,
 * target_profile and the targets view.
 */
create or replace function profile_sync.compiled_sql()
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.string_agg(d, E'\n')
  from (
    select pg_catalog.pg_get_functiondef(p.oid) as d
    from pg_catalog.pg_proc p
    where p.pronamespace = 'profile_sync'::regnamespace
      and p.proname in ('sync_decisions', 'sync_users', 'sync_preview', 'target_profile')
    union all
    select 'create view profile_sync.targets as' || pg_catalog.pg_get_viewdef('profile_sync.targets'::regclass)
    where pg_catalog.to_regclass('profile_sync.targets') is not null
  ) x
$$;

/*
 * profile_sync.sync_isolated(ids, source): sync_users with failure isolation, the way every path
 * syncs. When the batch fails on a row the target refuses (a unique, check or NOT NULL
 * constraint, a value its type rejects, an error its own trigger raises), it is split in halves
 * and each is tried again, down to the one user that fails: that user gets outcome 'failed' and a
 * row in profile_sync.failures (SQLSTATE, message, the constraint's name), retried by every
 * reconcile; the others are synced. Transient errors (lock, serialization, connection, shutdown)
 * are raised, for the caller to retry. A successful sync removes the user's failure row.
 * Returns (user_id, outcome) per distinct id, in id order. Callers: the edge functions, reconcile.
 */
create or replace function profile_sync.sync_isolated(ids uuid[], source text)
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  wanted uuid[] := array(select distinct i.id from pg_catalog.unnest(ids) as i (id) where i.id is not null order by 1);
  synced_ids uuid[];
  outcomes text[];
  half integer;
  err_code text;
  err_message text;
  err_constraint text;
begin
  if pg_catalog.cardinality(wanted) = 0 then
    return;
  end if;
  perform profile_sync._ensure_compiled();  -- the table changed since the core was compiled?
  begin
    select pg_catalog.array_agg(r.user_id order by r.user_id), pg_catalog.array_agg(r.outcome order by r.user_id)
      into synced_ids, outcomes
      from profile_sync.sync_users(wanted) r;
    delete from profile_sync.failures f where f.user_id = any (wanted);
  exception when others then
    get stacked diagnostics err_code = returned_sqlstate, err_message = message_text, err_constraint = constraint_name;
    -- 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator, 55P03 lock
    if err_code ~ '^(08|40|53|57)' or err_code = '55P03' then
      raise;
    end if;
    if pg_catalog.cardinality(wanted) = 1 then
      insert into profile_sync.failures as f (user_id, source, error_code, error_message, constraint_name)
      values (wanted[1], sync_isolated.source, err_code, pg_catalog.left(err_message, 500), err_constraint)
      on conflict (user_id) do update set
        source = excluded.source,
        error_code = excluded.error_code,
        error_message = excluded.error_message,
        constraint_name = excluded.constraint_name,
        attempts = f.attempts + 1,
        last_seen = pg_catalog.now();
      return query select wanted[1], 'failed'::text;
      return;
    end if;
    half := pg_catalog.cardinality(wanted) / 2;
    return query select * from profile_sync.sync_isolated(wanted[1:half], sync_isolated.source);
    return query select * from profile_sync.sync_isolated(wanted[half + 1:], sync_isolated.source);
    return;
  end;
  return query select r.id, r.outcome from rows from (pg_catalog.unnest(synced_ids), pg_catalog.unnest(outcomes)) as r (id, outcome);
end
$$;

/*
 * profile_sync.sync_profile(user_id, as_user): sync-profile in one call. For a user's own call
 * (as_user), a banned user (auth banned_until in the future) is refused: banned = true and nothing
 * is synced; and a call within 10 s of the user's last own sync, with their auth.users row
 * unchanged since (same xmin) and their row present, is answered from the row without syncing:
 * outcome 'served_from_row' (profile_sync.recent_syncs). Otherwise the user is synced
 * (sync_isolated) and the row returned as the user may read it (target_profile); profile is null
 * when the user is gone, soft-deleted (the tombstone is not theirs to read) or the row was
 * refused (outcome 'failed'). Callers: the edge functions.
 */
create or replace function profile_sync.sync_profile(user_id uuid, as_user boolean)
returns table (outcome text, banned boolean, profile jsonb)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_variable
declare
  result text;
  -- the auth row as this call found it: its version (xmin), ban and soft delete
  seen xid;
  is_banned boolean;
  is_deleted boolean;
  answer jsonb;
begin
  select u.xmin, coalesce(u.banned_until > pg_catalog.now(), false), u.deleted_at is not null
    into seen, is_banned, is_deleted
  from auth.users u where u.id = user_id;
  if as_user and is_banned then
    return query select null::text, true, null::jsonb;
    return;
  end if;
  if as_user and not is_deleted and exists (
    select 1 from profile_sync.recent_syncs r
    where r.user_id = sync_profile.user_id and r.auth_version = seen
      and r.synced_at > pg_catalog.now() - interval '10 seconds'
  ) then
    perform profile_sync._ensure_compiled();  -- target_profile as the table is now
    answer := profile_sync.target_profile(user_id);
    if answer is not null then
      return query select 'served_from_row'::text, false, answer;
      return;
    end if;
  end if;
  select r.outcome into result from profile_sync.sync_isolated(array[user_id], 'sync-profile') r;
  -- the version read before the sync: a change committed meanwhile makes the next call sync again
  if as_user and seen is not null and result in ('created', 'updated', 'unchanged') then
    insert into profile_sync.recent_syncs as r (user_id, auth_version, synced_at)
    values (user_id, seen, pg_catalog.now())
    on conflict on constraint recent_syncs_pkey do update
      set auth_version = excluded.auth_version, synced_at = excluded.synced_at;
  end if;
  return query select result, false,
    case when result in ('created', 'updated', 'unchanged')
      and not exists (select 1 from auth.users u where u.id = user_id and u.deleted_at is not null)
      then profile_sync.target_profile(user_id) end;
end
$$;
