-- Local stand-in: the roles every Supabase database has (supabase/postgres initial schema).
-- Applied only to the embedded database, never to a database given by SUPABASE_DB_URL.
-- `postgres` is created as on hosted Supabase when the cluster's superuser has another name
-- (the tests' cluster: supabase_admin): not a superuser, but createdb, createrole, replication,
-- bypassrls. Where `postgres` is the superuser already (the dev stack, the benchmark), it stays so.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres login nosuperuser createdb createrole replication bypassrls password 'postgres';
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin noinherit createrole login noreplication;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role supabase_auth_admin set search_path = auth;
grant usage on schema public to anon, authenticated, service_role;
-- Auth reads the app's tables through definer functions only; Supabase grants it the schema.
grant usage on schema public to supabase_auth_admin;
