-- Every grant profile-sync makes on its own objects, in one place. Nothing in profile_sync is reachable by anon or
-- authenticated; service_role (the admin credential's role) may call the entry points; the
-- schedule is the database owner's alone.
revoke all on schema profile_sync from public, anon, authenticated;
grant usage on schema profile_sync to service_role;

revoke all on all tables in schema profile_sync from public, anon, authenticated;
grant select on table profile_sync.runs to service_role;
grant select on table profile_sync.failures to service_role;
grant select on table profile_sync.settings to service_role;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
revoke execute on function profile_sync.schedule_reconcile(text) from service_role;
revoke execute on function profile_sync.unschedule_reconcile() from service_role;
revoke execute on function profile_sync.schedule_drain(text) from service_role;
revoke execute on function profile_sync.unschedule_drain() from service_role;
revoke execute on procedure profile_sync.drain_deliveries(integer, integer) from public, anon, authenticated, service_role;
grant execute on function profile_sync.sync_isolated(uuid[], text) to service_role;
grant execute on function profile_sync.sync_profile(uuid, boolean) to service_role;
grant execute on function profile_sync.set_role_policy(text, text[]) to service_role;
grant execute on function profile_sync.drift_counts(integer) to service_role;
grant execute on function profile_sync.reconcile_status() to service_role;
grant execute on function profile_sync.reconcile_dry_run(integer) to service_role;
grant execute on function profile_sync.reconcile_begin(integer) to service_role;
grant execute on function profile_sync.reconcile_page(bigint, uuid, integer) to service_role;
grant execute on function profile_sync.reconcile_sync_page(bigint, uuid, uuid) to service_role;
grant execute on function profile_sync.reconcile_advance(bigint, uuid) to service_role;
grant execute on function profile_sync.reconcile_retry_failures(bigint, integer) to service_role;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;
grant execute on function profile_sync.claim_deliveries(integer, uuid[]) to service_role;
grant execute on function profile_sync.settle_deliveries(uuid[], text) to service_role;
grant execute on function profile_sync.delivery_status() to service_role;
grant execute on function profile_sync.delivery_list(boolean, integer) to service_role;
grant execute on function profile_sync.replay_deliveries(uuid[], boolean, timestamptz) to service_role;
grant execute on function profile_sync.delivery_history(timestamptz) to service_role;
grant execute on function profile_sync.set_delivery_settings(integer, integer) to service_role;
-- The target table's grants are the mapping's (apply_mapping); the functions compiled for it
-- get theirs where they are compiled (compile_sync_core).
