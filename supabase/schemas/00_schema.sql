-- profile_sync: the private schema holding the one sync core every path calls, its settings and
-- its bookkeeping. Nothing here is reachable by anon or authenticated (grants: 90_grants.sql).
create schema if not exists profile_sync;

-- The extensions the push path and the schedule use, where the database offers them (Supabase
-- does), in schema extensions as Supabase enables them (an extension created without a schema
-- lands in public, which Supabase's Security Advisor flags). pg_net keeps its own schema net
-- whatever is asked. pg_cron also needs shared_preload_libraries and cron.database_name: if it
-- cannot load here, say so and go on. Everything applies cleanly where they are absent: the
-- trigger then only warns, and reconcile is not scheduled.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
    create schema if not exists extensions;
    create extension if not exists pg_net with schema extensions;
  end if;
exception when others then
  raise warning 'profile_sync: pg_net could not be enabled (%): auth.users changes will not be sent', sqlerrm;
end
$$;

do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron;
  end if;
exception when others then
  raise warning 'profile_sync: pg_cron could not be enabled (%): reconcile is not scheduled', sqlerrm;
end
$$;
