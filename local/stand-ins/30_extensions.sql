-- Local stand-in: schema extensions with pgcrypto, as on every Supabase database.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
-- On hosted the owner role may use it and create extensions' objects in it (`with schema extensions`).
grant usage, create on schema extensions to postgres;
