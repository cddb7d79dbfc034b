-- Local stand-in for pg_net: net.http_post with pg_net's signature queues the request in
-- net.http_request_queue (the body as convert_to(body::text, 'UTF8'), as pg_net does) and
-- notifies 'pg_net_request' at commit; the local stack's relay sends it and records the answer
-- in net._http_response. Like pg_net, nothing is sent for a transaction that rolls back.
-- Both tables are unlogged, as pg_net's are (a queued request costs a signup no WAL).
-- Privileges as pg_net's own script grants them: http_post is security invoker and executable by
-- PUBLIC (a function's default), and the owner role `postgres` has all on schema net and its
-- tables, so a caller without them (anon, a non-definer trigger run by Auth) cannot queue.
create schema if not exists net;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null,
  url text not null,
  headers jsonb not null,
  body bytea null,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id bigint null,
  status_code integer null,
  content_type text null,
  headers jsonb null,
  content text null,
  timed_out bool null,
  error_msg text null,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  request_id bigint;
  full_url text := url;
  qs text;
begin
  if params is not null and params <> '{}'::jsonb then
    select string_agg(key || '=' || value, '&') into qs from jsonb_each_text(params);
    full_url := url || case when position('?' in url) > 0 then '&' else '?' end || qs;
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', full_url, coalesce(headers, '{}'::jsonb), convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  perform pg_notify('pg_net_request', request_id::text);
  return request_id;
end
$$;

grant execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) to public;
grant all on schema net to postgres;
grant all on all tables in schema net to postgres;
grant all on all sequences in schema net to postgres;

-- `profile-sync doctor` reads this to tell the local stack's database (no pg_cron, as expected).
comment on schema net is 'profile-sync local stand-in for pg_net (local/stand-ins/40_pg_net.sql)';
