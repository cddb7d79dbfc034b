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
as $$
  select 1886548852
$$;

/*
 * profile_sync.key_range(id): the key range of a user id, one of 1024: its first 10 bits. Syncs
 * lock ranges, not users (a batch of any size holds at most 1024 locks), and reconcile pages end
 * on range boundaries so that pages synced in parallel rarely wait for each other. Auth's ids are
 * random (v4), so ranges fill evenly.
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
as $$
  select pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), r.key_range)
  from (
    select distinct profile_sync.key_range(i.id) as key_range from pg_catalog.unnest(ids) as i (id) where i.id is not null
  ) r
  order by r.key_range
$$;

/*
 * profile_sync.compile_sync_core(): (re)creates, for the mapping in profile_sync.settings:
 *   sync_decisions(ids)  what a sync of the users would do (the merge), without doing it;
 *   sync_users(ids)      does it: one statement, returns (user_id, outcome);
 *   sync_preview(ids)    the per-column changes a sync would make (the dry run's report);
 *   target_profile(id)   the row as its user may read it (sync-profile's answer);
 *   targets              a view of the target's keys (what drift and reconcile read);
 *   check_user_edit()    a trigger on the target cleaning what users write to user_editable
 *                        columns as synced values are cleaned (profile_sync_user_edits);
 * and the bookkeeping columns the mapping needs in profile_state (synced_<column> and
 * <column>_edited for each app-owned column). Internal: called by apply_mapping and recompile.
 *
 * The rules (DESIGN "Profile rules", for any mapping):
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
 */
create or replace function profile_sync.compile_sync_core()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  st profile_sync.settings%rowtype;
  m jsonb;
  t text;          -- the target table, quoted
  k text;          -- its key column, quoted
  c record;
  soft_at text;
  soft_flag text;
  soft_active text;
  soft_type text;
  -- pieces of the generated statements
  out_cols text[] := '{}';
  out_names text[] := '{}';
  src_cols text[] := '{}';
  app_edit text[] := '{}';
  new_vals text[] := '{}';
  state_vals text[] := '{}';
  changed text[] := '{}';
  st_old text[] := '{}';
  st_new text[] := '{}';
  ins_cols text[] := '{}';
  ins_vals text[] := '{}';
  upd_set text[] := '{}';
  st_cols text[] := '{}';
  st_ins text[] := '{}';
  st_upd text[] := '{}';
  preview text[] := '{}';
  readable text[] := '{}';
  guards text[] := '{}';
  not_marked text;
  a_ref text;
  clear_val text;
  cleared boolean;
begin
  select * into st from profile_sync.settings;
  if not found then
    raise exception 'no mapping is applied: apply one first (profile_sync.apply_mapping)' using errcode = '55000';
  end if;
  m := st.mapping;
  t := st.target_table;
  k := pg_catalog.quote_ident(st.target_key);

  soft_at := m #>> '{soft_delete,at}';
  soft_flag := m #>> '{soft_delete,flag}';
  soft_active := coalesce(m #>> '{soft_delete,active}', 'true');

  for c in
    select e.key as name, e.value as spec,
      e.value ->> 'owner' as owner, e.value ->> 'type' as type, e.value ->> 'from' as src,
      e.key = any (array(select pg_catalog.jsonb_array_elements_text(m -> 'clear_on_soft_delete'))) as clear
    from pg_catalog.jsonb_each(m -> 'columns') e
    order by e.key
  loop
    -- what auth says the column should hold; for the role, the policy's result, as the column's
    -- type (an enum column takes only its own labels: another value is null, then its default)
    a_ref := case
      when c.src is distinct from 'role' then pg_catalog.format('x.%I', 'a_' || c.name)
      when (c.spec ->> 'enum')::boolean then pg_catalog.format(
        'coalesce(case when x.role_value = any (pg_catalog.enum_range(null::%1$s)::text[]) then x.role_value::%1$s end, %2$s)',
        c.type, coalesce(c.spec ->> 'column_default', 'null'))
      else 'x.role_value'
    end;
    cleared := c.clear and m -> 'soft_delete' <> 'null'::jsonb;
    clear_val := coalesce(
      case when c.spec ? 'default' then profile_sync.mapping_literal(c.name, c.spec -> 'default', c.type) end,
      case when (c.spec ->> 'not_null')::boolean then c.spec ->> 'column_default' end,
      pg_catalog.format('null::%s', c.type));

    out_cols := out_cols || pg_catalog.format('%I %s, %I %s', 'n_' || c.name, c.type, 'p_' || c.name, c.type);
    out_names := out_names || ('n_' || c.name) || ('p_' || c.name);
    if c.src is distinct from 'role' then
      src_cols := src_cols || pg_catalog.format('%s as %I', c.spec ->> 'sql', 'a_' || c.name);
    end if;
    src_cols := src_cols || pg_catalog.format('p.%I as %I', c.name, 'p_' || c.name);
    ins_cols := ins_cols || pg_catalog.format('%I', c.name);
    ins_vals := ins_vals || pg_catalog.format('d.%I', 'n_' || c.name);

    if c.owner = 'insert' then
      new_vals := new_vals || pg_catalog.format('case when x.has_profile then x.%I else %s end as %I',
        'p_' || c.name, a_ref, 'n_' || c.name);
      continue;
    end if;

    upd_set := upd_set || pg_catalog.format('%1$I = excluded.%1$I', c.name);
    changed := changed || pg_catalog.format('d.%I is distinct from d.%I', 'p_' || c.name, 'n_' || c.name);

    if c.owner = 'auth' then
      new_vals := new_vals || pg_catalog.format('case when %s then %s else %s end as %I',
        case when cleared then 'x.soft_deleted' else 'false' end, clear_val, a_ref, 'n_' || c.name);
      preview := preview || pg_catalog.format('(%L, pg_catalog.to_jsonb(d.%I), pg_catalog.to_jsonb(d.%I), false)',
        c.name, 'p_' || c.name, 'n_' || c.name);
      continue;
    end if;

    -- app-owned: the three-way merge
    out_cols := out_cols || pg_catalog.format('%I %s, %I boolean, %I %s, %I boolean',
      'a_' || c.name, c.type, 'e_' || c.name, 's_' || c.name, c.type, 'se_' || c.name);
    out_names := out_names || ('a_' || c.name) || ('e_' || c.name) || ('s_' || c.name) || ('se_' || c.name);
    src_cols := src_cols || pg_catalog.format('s.%I as %I, s.%I as %I',
      'synced_' || c.name, 'st_' || c.name, c.name || '_edited', 'ste_' || c.name);
    app_edit := app_edit || pg_catalog.format(
      'case when x.has_state then x.%1$I or (x.has_profile and x.%2$I is distinct from x.%3$I) '
      'else x.has_profile and x.%2$I is not null and x.%2$I is distinct from %4$s end as %5$I',
      'ste_' || c.name, 'p_' || c.name, 'st_' || c.name, a_ref, 'e_' || c.name);
    new_vals := new_vals || pg_catalog.format('case when %s then %s when x.%I then x.%I else %s end as %I',
      case when cleared then 'x.soft_deleted' else 'false' end, clear_val,
      'e_' || c.name, 'p_' || c.name, a_ref, 'n_' || c.name);
    state_vals := state_vals || pg_catalog.format(
      'case when %1$s then null when x.%2$I then x.%3$I else x.%4$I end as %5$I, x.%2$I and not %1$s as %6$I%7$s',
      case when cleared then 'x.soft_deleted' else 'false' end,
      'e_' || c.name, 'st_' || c.name, 'n_' || c.name, 's_' || c.name, 'se_' || c.name,
      case when c.src = 'role' then pg_catalog.format(', %s as %I', a_ref, 'a_' || c.name) else '' end);
    st_old := st_old || pg_catalog.format('d.%I, d.%I', 'st_' || c.name, 'ste_' || c.name);
    st_new := st_new || pg_catalog.format('d.%I, d.%I', 's_' || c.name, 'se_' || c.name);
    st_cols := st_cols || pg_catalog.format('%I, %I', 'synced_' || c.name, c.name || '_edited');
    st_ins := st_ins || pg_catalog.format('d.%I, d.%I', 's_' || c.name, 'se_' || c.name);
    st_upd := st_upd || pg_catalog.format('%1$I = excluded.%1$I, %2$I = excluded.%2$I', 'synced_' || c.name, c.name || '_edited');
    preview := preview || pg_catalog.format(
      '(%L, pg_catalog.to_jsonb(d.%I), pg_catalog.to_jsonb(d.%I), d.%I and d.%I is distinct from d.%I)',
      c.name, 'p_' || c.name, 'n_' || c.name, 'e_' || c.name, 'p_' || c.name, 'a_' || c.name);

    -- the bookkeeping columns this column needs (a column whose type changed starts afresh)
    if exists (
      select 1 from pg_catalog.pg_attribute a
      where a.attrelid = 'profile_sync.profile_state'::regclass and a.attname = 'synced_' || c.name
        and not a.attisdropped and pg_catalog.format_type(a.atttypid, a.atttypmod) <> c.type
    ) then
      execute pg_catalog.format('alter table profile_sync.profile_state drop column %I', 'synced_' || c.name);
    end if;
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %I %s',
      'synced_' || c.name, c.type);
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %I boolean not null default false',
      c.name || '_edited');
  end loop;

  -- user edits of the columns users may edit pass the rules synced values pass
  guards := array(
    select pg_catalog.format(
      E'  if new.%1$I is distinct from old.%1$I and new.%1$I is not null then\n' ||
      E'    new.%1$I := %2$s;\n' ||
      E'    if new.%1$I is null then\n' ||
      E'      raise exception %3$L using errcode = ''23514'', column = %4$L, table = %5$L;\n' ||
      E'    end if;\n' ||
      E'  end if;',
      e.key,
      case
        when e.value ->> 'from' = 'full_name' then pg_catalog.format('profile_sync.clean_name(new.%I)', e.key)
        when e.value ->> 'from' = 'avatar_url' then pg_catalog.format('profile_sync.safe_avatar_url(new.%I)', e.key)
        else pg_catalog.format('profile_sync.clean_text(pg_catalog.to_jsonb(new.%I), %s)', e.key,
          coalesce(pg_catalog.substring(e.value ->> 'type', '\((\d+)\)')::integer, 1000))
      end,
      case when e.value ->> 'from' = 'avatar_url'
        then e.key || ': an avatar must be a public http(s) URL'
        else e.key || ': a blank or unprintable value is not accepted' end,
      e.key, t)
    from pg_catalog.jsonb_each(m -> 'columns') e
    where e.key in (select pg_catalog.jsonb_array_elements_text(m -> 'user_editable'))
      and (e.value ->> 'from' in ('full_name', 'avatar_url')
        or (e.value ->> 'from' like 'user_metadata.%' and (e.value ->> 'type' in ('text', 'citext') or e.value ->> 'type' like 'character%')))
    order by e.key);

  -- soft delete: auth-owned columns of their own
  not_marked := 'false';
  if soft_at is not null then
    select pg_catalog.format_type(a.atttypid, a.atttypmod) into soft_type
    from pg_catalog.pg_attribute a where a.attrelid = t::regclass and a.attname = soft_at and not a.attisdropped;
    out_cols := out_cols || pg_catalog.format('%I %s, %I %s', 'n_' || soft_at, soft_type, 'p_' || soft_at, soft_type);
    out_names := out_names || ('n_' || soft_at) || ('p_' || soft_at);
    src_cols := src_cols || pg_catalog.format('p.%I as %I', soft_at, 'p_' || soft_at);
    new_vals := new_vals || pg_catalog.format('x.a_deleted_at::%s as %I', soft_type, 'n_' || soft_at);
    ins_cols := ins_cols || pg_catalog.format('%I', soft_at);
    ins_vals := ins_vals || pg_catalog.format('d.%I', 'n_' || soft_at);
    upd_set := upd_set || pg_catalog.format('%1$I = excluded.%1$I', soft_at);
    changed := changed || pg_catalog.format('d.%I is distinct from d.%I', 'p_' || soft_at, 'n_' || soft_at);
    preview := preview || pg_catalog.format('(%L, pg_catalog.to_jsonb(d.%I), pg_catalog.to_jsonb(d.%I), false)',
      soft_at, 'p_' || soft_at, 'n_' || soft_at);
    not_marked := pg_catalog.format('d.%I is null', 'p_' || soft_at);
  end if;
  if soft_flag is not null then
    out_cols := out_cols || pg_catalog.format('%I boolean, %I boolean', 'n_' || soft_flag, 'p_' || soft_flag);
    out_names := out_names || ('n_' || soft_flag) || ('p_' || soft_flag);
    src_cols := src_cols || pg_catalog.format('p.%I as %I', soft_flag, 'p_' || soft_flag);
    new_vals := new_vals || pg_catalog.format('(x.a_deleted_at is null) = %s as %I', soft_active, 'n_' || soft_flag);
    ins_cols := ins_cols || pg_catalog.format('%I', soft_flag);
    ins_vals := ins_vals || pg_catalog.format('d.%I', 'n_' || soft_flag);
    upd_set := upd_set || pg_catalog.format('%1$I = excluded.%1$I', soft_flag);
    changed := changed || pg_catalog.format('d.%I is distinct from d.%I', 'p_' || soft_flag, 'n_' || soft_flag);
    preview := preview || pg_catalog.format('(%L, pg_catalog.to_jsonb(d.%I), pg_catalog.to_jsonb(d.%I), false)',
      soft_flag, 'p_' || soft_flag, 'n_' || soft_flag);
    not_marked := pg_catalog.format('d.%I is distinct from d.%I', 'p_' || soft_flag, 'n_' || soft_flag);
  end if;

  -- what the user may read of their row: the columns authenticated may select (all, by default)
  -- (timestamps as JavaScript writes them, milliseconds and Z, as postgres.js clients did)
  readable := array(
    select case pg_catalog.format_type(a.atttypid, null)
      when 'timestamp with time zone' then pg_catalog.format(
        '%L, pg_catalog.to_char(t.%I at time zone ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'')', a.attname, a.attname)
      else pg_catalog.format('%L, t.%I', a.attname, a.attname)
    end
    from pg_catalog.pg_attribute a
    where a.attrelid = t::regclass and a.attnum > 0 and not a.attisdropped
      and pg_catalog.has_column_privilege('authenticated', t::regclass, a.attnum, 'select')
    order by a.attnum);
  if pg_catalog.cardinality(readable) = 0 then
    readable := array[pg_catalog.format('%L, t.%s', st.target_key, k)];
  end if;

  drop function if exists profile_sync.sync_preview(uuid[]);
  drop function if exists profile_sync.sync_decisions(uuid[]);

  execute pg_catalog.format($tpl$
create function profile_sync.sync_decisions(ids uuid[])
returns table (
  user_id uuid, in_auth boolean, has_profile boolean, has_state boolean, applies boolean,
  profile_changes boolean, state_changes boolean, outcome text, soft_deleted boolean,
  %1$s,
  base_role text, auth_updated_at timestamptz
)
language sql
stable
as $body$
  -- compiled by profile_sync.compile_sync_core() for %2$s (key %3$s)
  with wanted as (
    select distinct w.id from pg_catalog.unnest($1) as w (id) where w.id is not null
  ),
  -- each table read through its key for exactly the wanted ids (one index scan per table, rows
  -- matched by hashing); offset 0 keeps this level a subquery of its own, so each mapped value is
  -- computed once per user
  source as (
    select
      w.id,
      u.id is not null as in_auth,
      p.%3$s is not null as has_profile,
      s.user_id is not null as has_state,
      u.updated_at as auth_updated_at,
      %4$s as soft_deleted,
      u.deleted_at as a_deleted_at,
      profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100) as app_role,
      profile_sync.clean_text(u.raw_user_meta_data -> 'role', 100) as claimed_role,
      s.initial_role as st_initial_role,
      s.auth_updated_at as st_auth_updated_at,
      %5$s
    from wanted w
    left join (select * from auth.users x where x.id = any ($1)) u on u.id = w.id
    left join (select * from %2$s x where x.%3$s = any ($1)) p on p.%3$s = w.id
    left join (select * from profile_sync.profile_state x where x.user_id = any ($1)) s on s.user_id = w.id
    offset 0
  ),
  based as (
    select
      x.*,
      coalesce(
        x.st_initial_role,
        case
          when not x.has_profile and x.claimed_role = any ((select ps.self_assignable_roles from profile_sync.settings ps)::text[])
            then x.claimed_role
          else (select ps.default_role from profile_sync.settings ps)
        end
      ) as base_role,
      -- version guard: an auth state older than the one last synced is never applied
      x.st_auth_updated_at is not null and x.auth_updated_at is not null
        and x.auth_updated_at < x.st_auth_updated_at as is_older
    from source x
  ),
  valued as (
    select x.*, coalesce(x.app_role, x.base_role) as role_value
    from based x
  ),
  merged as (
    select x.* %6$s
    from valued x
  ),
  target as (
    select x.*, x.in_auth and not x.is_older as applies, %7$s
    from merged x
  ),
  decided as (
    select x.* %8$s
    from target x
  )
  select
    d.id, d.in_auth, d.has_profile, d.has_state, d.applies,
    not d.has_profile %9$s as profile_changes,
    row(d.st_initial_role, d.st_auth_updated_at %10$s) is distinct from row(d.base_role, d.auth_updated_at %11$s),
    case
      when not d.in_auth then case when d.has_profile then 'deleted' else 'not_found' end
      when d.is_older then 'unchanged'
      when d.soft_deleted and (not d.has_profile or %12$s) then 'deleted'
      when not d.has_profile then 'created'
      when not d.has_profile %9$s then 'updated'
      else 'unchanged'
    end,
    d.soft_deleted,
    %13$s,
    d.base_role, d.auth_updated_at
  from decided d
$body$
$tpl$,
    pg_catalog.array_to_string(out_cols, E',\n  '),
    t, k,
    case when m -> 'soft_delete' = 'null'::jsonb then 'false' else 'u.deleted_at is not null' end,
    pg_catalog.array_to_string(src_cols, E',\n      '),
    (select pg_catalog.string_agg(', ' || x, E'\n      ') from pg_catalog.unnest(app_edit) x),
    pg_catalog.array_to_string(new_vals, E',\n      '),
    (select pg_catalog.string_agg(', ' || x, E'\n      ') from pg_catalog.unnest(state_vals) x),
    coalesce((select pg_catalog.string_agg(' or ' || x, E'\n      ') from pg_catalog.unnest(changed) x), ''),
    coalesce((select pg_catalog.string_agg(', ' || x, ' ') from pg_catalog.unnest(st_old) x), ''),
    coalesce((select pg_catalog.string_agg(', ' || x, ' ') from pg_catalog.unnest(st_new) x), ''),
    not_marked,
    (select pg_catalog.string_agg(pg_catalog.format('d.%I', x), ', ') from pg_catalog.unnest(out_names) x));

  execute pg_catalog.format($tpl$
create or replace function profile_sync.sync_users(ids uuid[])
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
-- Planned once per session and reused (planning the inlined merge costs more than a one-user
-- sync). The reused plan must not depend on how big the tables were when it was made: every table
-- access is a probe by key (no seq scans), and rows passed between the statement's parts are
-- matched by hashing (no nested loops over them). These settings only steer plan choice, for the
-- length of the call (triggers an app puts on its table included).
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_nestloop = off
as $body$
#variable_conflict use_column
begin
  -- compiled by profile_sync.compile_sync_core() for %1$s (key %2$s)
  -- Syncs of the same user run one after another (lock_key_ranges); then the existing rows are
  -- locked in key order, the order in which Auth deleting users cascades (taken the other way
  -- round, a sync and Auth's delete of the same user can deadlock, and the one aborted may be
  -- Auth's). A new statement follows: a fresh snapshot taken after the locks, so auth is read as
  -- of now and every earlier sync of these users is seen.
  perform profile_sync.lock_key_ranges($1);
  perform 1 from %1$s p where p.%2$s = any ($1) order by p.%2$s for no key update;

  return query
  with decided as materialized (
    select d.* from profile_sync.sync_decisions($1) d
  ),
  upserted as (
    insert into %1$s as p (%2$s, %3$s)
    select d.user_id, %4$s
    from decided d
    where d.applies and d.profile_changes
    order by d.user_id
    on conflict (%2$s) do %5$s
    returning p.%2$s
  ),
  state_written as (
    -- first syncs insert their bookkeeping; later ones update it, only when something moved
    insert into profile_sync.profile_state as s (user_id, initial_role, auth_updated_at, synced_at %6$s)
    select d.user_id, d.base_role, d.auth_updated_at, pg_catalog.now() %7$s
    from decided d
    where d.applies and (not d.has_state or d.profile_changes or d.state_changes)
    order by d.user_id
    on conflict on constraint profile_state_pkey do update set
      initial_role = excluded.initial_role,
      auth_updated_at = excluded.auth_updated_at,
      synced_at = excluded.synced_at %8$s
    returning s.user_id
  ),
  removed as (
    delete from %1$s p
    where p.%2$s = any (array(select d.user_id from decided d where not d.in_auth))
    returning p.%2$s
  )
  -- upserted, state_written and removed run to completion whether or not they are read
  select d.user_id, d.outcome from decided d order by d.user_id;
end
$body$
$tpl$,
    t, k,
    pg_catalog.array_to_string(ins_cols, ', '),
    pg_catalog.array_to_string(ins_vals, ', '),
    case when pg_catalog.cardinality(upd_set) = 0 then 'nothing'
      else E'update set\n      ' || pg_catalog.array_to_string(upd_set, E',\n      ') end,
    coalesce((select pg_catalog.string_agg(', ' || x, ' ') from pg_catalog.unnest(st_cols) x), ''),
    coalesce((select pg_catalog.string_agg(', ' || x, ' ') from pg_catalog.unnest(st_ins) x), ''),
    coalesce((select pg_catalog.string_agg(E',\n      ' || x, '') from pg_catalog.unnest(st_upd) x), ''));

  execute pg_catalog.format($tpl$
create function profile_sync.sync_preview(ids uuid[])
returns table (user_id uuid, column_name text, from_value jsonb, to_value jsonb, kept boolean)
language sql
stable
as $body$
  -- compiled by profile_sync.compile_sync_core() for %1$s: what a sync would change in rows that
  -- exist, column by column, and the app-edited values it keeps although auth differs
  select d.user_id, v.column_name, v.from_value, v.to_value, v.kept
  from profile_sync.sync_decisions($1) d
  cross join lateral (values %2$s) as v (column_name, from_value, to_value, kept)
  where d.applies and d.has_profile and (v.from_value is distinct from v.to_value or v.kept)
$body$
$tpl$, t,
    coalesce(pg_catalog.array_to_string(preview, E',\n    '), '(null::text, null::jsonb, null::jsonb, false)'));

  execute pg_catalog.format($tpl$
create or replace function profile_sync.target_profile(id uuid)
returns jsonb
language sql
stable
as $body$
  -- compiled by profile_sync.compile_sync_core() for %1$s: the row as its user may read it
  select pg_catalog.jsonb_build_object(%3$s) from %1$s t where t.%2$s = $1
$body$
$tpl$, t, k, pg_catalog.array_to_string(readable, ', '));

  execute pg_catalog.format('create or replace view profile_sync.targets as select t.%s as id from %s t', k, t);

  execute pg_catalog.format($tpl$
create or replace function profile_sync.check_user_edit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $body$
-- compiled by profile_sync.compile_sync_core() for %1$s: what a signed-in user writes to a column
-- they may edit is cleaned as a synced value is (names trimmed and bounded, avatars http(s) only);
-- a value that cleans to nothing is refused. Security definer (users may not reach profile_sync's
-- helpers); the trigger's WHEN clause lets only users' edits in.
begin
%2$s
  return new;
end
$body$
$tpl$, t, coalesce(pg_catalog.array_to_string(guards, E'\n'), ''));
  -- Fired only for anon/authenticated (the request's SET ROLE: inside a definer function
  -- current_user is the owner), so profile-sync's own writes and the service role never call it;
  -- and only where a user-editable column has a rule to apply.
  if pg_catalog.cardinality(guards) > 0 then
    execute pg_catalog.format(
      'create or replace trigger profile_sync_user_edits before update on %s for each row '
      'when (pg_catalog.current_setting(''role'', true) in (''anon'', ''authenticated'')) '
      'execute function profile_sync.check_user_edit()', t);
  else
    execute pg_catalog.format('drop trigger if exists profile_sync_user_edits on %s', t);
  end if;

  revoke all on function profile_sync.sync_decisions(uuid[]) from public;
  revoke all on function profile_sync.sync_preview(uuid[]) from public;
  revoke all on function profile_sync.sync_users(uuid[]) from public, anon, authenticated;
  revoke all on function profile_sync.target_profile(uuid) from public, anon, authenticated;
  revoke all on function profile_sync.check_user_edit() from public, anon, authenticated;
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
