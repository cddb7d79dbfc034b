-- When each user last synced themself through sync-profile, and which version of their auth.users
-- row (its xmin) that sync read. profile_sync.sync_profile answers a user's own call from the row,
-- without syncing, while that sync is recent (10 s) and the auth row is unchanged since: a
-- signed-in user calling sync-profile in a loop costs the database a key lookup a call, not a
-- sync. Every instance of the function reads the same rows, so the window holds across them.
--
-- Unlogged: losing it in a crash only means the next call syncs. No personal data (a user id, a
-- time, a transaction id); a deleted user's row goes with them (forget_deleted_user).
create unlogged table if not exists profile_sync.recent_syncs (
  user_id uuid not null constraint recent_syncs_pkey primary key,
  auth_version xid not null,
  synced_at timestamptz not null
);
comment on table profile_sync.recent_syncs is
  'Users'' last own sync through sync-profile and the auth.users row version it read: '
  'sync_profile answers from the row within 10 s of it while auth is unchanged.';
alter table profile_sync.recent_syncs enable row level security;
