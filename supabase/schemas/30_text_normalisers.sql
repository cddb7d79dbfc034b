-- The mapping helpers: how a value from auth becomes profile text. Plain SQL expressions, so the
-- planner inlines them into the statements that call them.

/*
 * The mapping helpers below are plain SQL expressions with no SET clause and no FROM, so the
 * planner inlines them into the statements that call them (a SET search_path would forbid
 * inlining and cost a function call with a GUC save/restore per value: most of the time of a
 * reconcile, see docs/benchmarks.md). Every name in them is schema-qualified instead, and
 * pg_catalog is searched first, so no caller's search_path can change what they mean.
 */

/*
 * profile_sync.clean_text(value, max_length): a JSON value as profile text.
 * Only JSON strings count (arrays, objects, numbers give null); trimmed; blank gives null;
 * cut to max_length characters so a 10,000-character name cannot bloat a profile.
 */
create or replace function profile_sync.clean_text(value jsonb, max_length integer)
returns text
language sql
immutable
parallel safe
as $$
  select case when pg_catalog.jsonb_typeof(value) = 'string'
    then nullif(pg_catalog.left(pg_catalog.btrim(value #>> '{}'), max_length), '')
  end
$$;

/*
 * profile_sync.full_name_from(user_metadata): first non-blank of full_name, name, user_name,
 * preferred_username (Google/Discord: name; GitHub: user_name; Azure: full_name only).
 */
create or replace function profile_sync.full_name_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.clean_text(user_metadata -> 'full_name', 200),
    profile_sync.clean_text(user_metadata -> 'name', 200),
    profile_sync.clean_text(user_metadata -> 'user_name', 200),
    profile_sync.clean_text(user_metadata -> 'preferred_username', 200)
  )
$$;

/*
 * profile_sync.avatar_url_from(user_metadata): avatar_url, else picture (Google, Discord);
 * only http(s) URLs, so a javascript: or data: value never reaches an <img src>.
 * (regexp_substr of a pattern anchored at both ends is the whole value or null: one
 * expression, so it inlines.)
 */
create or replace function profile_sync.avatar_url_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select pg_catalog.regexp_substr(
    coalesce(
      profile_sync.clean_text(user_metadata -> 'avatar_url', 2048),
      profile_sync.clean_text(user_metadata -> 'picture', 2048)
    ),
    '^https?://[^[:space:]]+$', 1, 1, 'i'
  )
$$;
