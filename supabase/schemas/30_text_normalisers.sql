-- The mapping helpers: how a value from auth becomes profile text, and what a clean display name
-- and a safe avatar URL are (the definition is tests/cleaning/clean.ts; the tests beside it check that these
-- agree with it on generated inputs). The same rules apply to what users write to the columns
-- they may edit (profile_sync._guard_user_write, 36_user_writes.sql).

/*
 * profile_sync.clean_name(raw): a display name as a profile may hold it, or null.
 * ANSI CSI sequences (ESC [ … final) removed; CR, LF, TAB, VT, FF, NEL and the line/paragraph
 * separators become spaces; other C0/C1 controls (BEL, ESC, …), DEL, zero-width space (U+200B),
 * word joiner (U+2060), BOM, LRM/RLM/ALM and bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069) removed; runs of Unicode whitespace (NBSP, EM SPACE,
 * ideographic space, …) become one space; trimmed of spaces and of the joiners U+200C/U+200D
 * (which stay inside: emoji sequences and some scripts need them); cut to 200 characters; blank
 * gives null.
 * Callers: the mapping helpers below, and the users' write guard (_clean_user_value, 36_user_writes.sql).
 * No SET clause: inlined into its callers per value, as the mapping helpers below (why: there).
 */
create or replace function profile_sync.clean_name(raw text)
returns text
language sql
immutable
parallel safe
as $$
  select nullif(pg_catalog.rtrim(pg_catalog.left(pg_catalog.btrim(
    pg_catalog.regexp_replace(
      pg_catalog.regexp_replace(
        pg_catalog.regexp_replace(
          pg_catalog.regexp_replace(raw, '\u001b\[[0-?]*[ -/]*[@-~]', '', 'g'),
          '[\t\n\v\f\r\u0085\u2028\u2029]', ' ', 'g'),
        '[\u0001-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]', '', 'g'),
      '[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+', ' ', 'g'),
    E' \u200c\u200d'), 200), E' \u200c\u200d'), '')
$$;

/*
 * profile_sync.is_blocked_ipv4(quad): whether a canonical dotted quad is an address a server must
 * not be sent to: this network (0/8), private (10/8, 172.16/12, 192.168/16), shared
 * (100.64/10), loopback (127/8), link-local (169.254/16: cloud metadata), multicast and
 * reserved (≥ 224). Internal to safe_avatar_url.
 */
create or replace function profile_sync.is_blocked_ipv4(quad text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
  select o.a = 0 or o.a = 10 or o.a = 127 or o.a >= 224
    or (o.a = 100 and o.b between 64 and 127)
    or (o.a = 169 and o.b = 254)
    or (o.a = 172 and o.b between 16 and 31)
    or (o.a = 192 and o.b = 168)
  from (
    select pg_catalog.split_part(quad, '.', 1)::integer as a, pg_catalog.split_part(quad, '.', 2)::integer as b
  ) o
$$;

/*
 * profile_sync.safe_avatar_url(raw): an avatar URL as a profile may hold it, or null.
 * http or https; Unicode whitespace trimmed from the ends, then no whitespace, control, quote,
 * angle bracket or backslash anywhere; no credentials; a host of ASCII labels (letters, digits,
 * _ and -; IDN hosts in punycode), an optional port ≤ 65535; not localhost; an IP host only as a
 * canonical dotted quad outside 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.168/16 and ≥ 224 (any other numeric spelling, e.g. 2130706433 or 0x7f.1, is refused, as
 * are IPv6 literals); at most 2048 characters. Returned as given (trimmed), never rewritten.
 * Callers: the mapping helpers below, and the users' write guard (_clean_user_value, 36_user_writes.sql).
 * Never inlined (a function with a FROM clause is not), so it takes search_path '' like the rest:
 * the per-call save and restore of the setting costs a sync of 20,000 users about 5 %.
 */
create or replace function profile_sync.safe_avatar_url(raw text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when p.url is null or p.url = '' or pg_catalog.char_length(p.url) > 2048 then null
    when p.url operator(pg_catalog.~)
      '[\u0001-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"''`<>\\]' then null
    when p.m is null then null
    when p.m[2] is not null and p.m[2]::integer > 65535 then null
    when p.host = 'localhost' or p.host operator(pg_catalog.~) '\.localhost$' then null
    when p.host operator(pg_catalog.~) '(^|\.)(0x[0-9a-f]*|[0-9]+)$' then
      case
        when p.host operator(pg_catalog.!~)
          '^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$'
          then null
        when profile_sync.is_blocked_ipv4(p.host) then null
        else p.url
      end
    else p.url
  end
  from (
    select t.url, t.m,
      pg_catalog.regexp_replace(pg_catalog.lower(t.m[1]), '\.$', '') as host
    from (
      select s.url, pg_catalog.regexp_match(s.url,
        '^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)(?::([0-9]{1,5}))?(?:[/?#].*)?$') as m
      from (
        select pg_catalog.btrim(raw,
          E' \t\n\u000b\f\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'
        ) as url
      ) s
    ) t
  ) p
$$;

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
 * profile_sync.json_string(value): a JSON string's text; null for anything else (arrays,
 * objects, numbers, null).
 */
create or replace function profile_sync.json_string(value jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select case when pg_catalog.jsonb_typeof(value) = 'string' then value #>> '{}' end
$$;

/*
 * profile_sync.full_name_from(user_metadata): the first of full_name, name, user_name,
 * preferred_username that is a clean name (clean_name: a name of only spaces, zero-width or
 * control characters counts as absent) (Google/Discord: name; GitHub: user_name; Azure:
 * full_name only).
 */
create or replace function profile_sync.full_name_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'full_name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'user_name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'preferred_username'))
  )
$$;

/*
 * profile_sync.avatar_url_from(user_metadata): avatar_url, else picture (Google, Discord), the
 * first that is a safe avatar URL (safe_avatar_url: http(s) only, so a javascript: or data:
 * value never reaches an <img src>, and never an internal address).
 */
create or replace function profile_sync.avatar_url_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.safe_avatar_url(profile_sync.json_string(user_metadata -> 'avatar_url')),
    profile_sync.safe_avatar_url(profile_sync.json_string(user_metadata -> 'picture'))
  )
$$;
