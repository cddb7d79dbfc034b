-- The mapping profile-sync applies (supabase/profile-sync.json): which table it keeps true to
-- auth.users and how. Written by `npx profile-sync init` / `generate`; this one is the default,
-- public.profiles.
select profile_sync.apply_mapping($mapping${}$mapping$::jsonb);
