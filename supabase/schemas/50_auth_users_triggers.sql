-- The triggers profile-sync puts on auth.users.
-- The push path: after insert, delete and relevant updates, statement-level triggers queue the
-- changed users in profile_sync.deliveries (45_deliveries.sql) in the change's own transaction,
-- and one Standard-Webhooks-signed wake-up per transaction goes to auth-webhook through pg_net
-- (sent after commit); auth-webhook then drains the queue. URL and secret come from the Vault
-- secrets profile_sync_webhook_url / profile_sync_webhook_secret. Any failure is a warning: the
-- auth write always goes on. Applies cleanly where pg_net and Vault are absent.
-- And the bookkeeping: a deleted user's profile_state goes with it.

/*
 * profile_sync.base64_secret_key(secret): the HMAC key of a Standard Webhooks secret: the base64
 * after `v1,whsec_` / `whsec_`, decoded; missing `=` padding is restored, as the JS library allows it.
 * Internal; raises on a malformed secret without quoting it.
 */
create or replace function profile_sync.base64_secret_key(secret text)
returns bytea
language plpgsql
immutable
set search_path = ''
as $$
declare
  b64 text := pg_catalog.regexp_replace(secret, '^(v1,)?whsec_', '');
begin
  if secret !~ '^(v1,)?whsec_[A-Za-z0-9+/]+={0,2}$' then
    raise exception 'profile_sync_webhook_secret must be v1,whsec_<base64> (several joined by spaces or |)'
      using errcode = '22023';
  end if;
  return pg_catalog.decode(pg_catalog.rpad(b64, ((pg_catalog.length(b64) + 3) / 4) * 4, '='), 'base64');
end
$$;

/*
 * profile_sync.standard_webhook_signature(msg_id, msg_timestamp, body, secrets): the
 * `webhook-signature` header value of Standard Webhooks: `v1,` || base64(HMAC-SHA256(key,
 * msg_id.msg_timestamp.body)), key = base64-decoded secret after `v1,whsec_` / `whsec_`.
 * Several secrets (joined by spaces or |) give several signatures joined by a space.
 * body must be the exact text sent: for net.http_post that is payload::text.
 * Internal; raises on a malformed secret (the caller turns that into a warning).
 */
create or replace function profile_sync.standard_webhook_signature(
  msg_id text,
  msg_timestamp bigint,
  body text,
  secrets text
)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  message bytea := pg_catalog.convert_to(msg_id || '.' || msg_timestamp::text || '.' || body, 'UTF8');
  b64 text;
  secret text;
  signatures text[] := '{}';
begin
  -- The usual case, one well-formed secret: no split, one regexp, no helper call.
  if secrets ~ '^(v1,)?whsec_[A-Za-z0-9+/]+={0,2}$' then
    b64 := pg_catalog.substr(secrets, pg_catalog.strpos(secrets, '_') + 1);
    return 'v1,' || pg_catalog.translate(pg_catalog.encode(extensions.hmac(
      message,
      pg_catalog.decode(pg_catalog.rpad(b64, ((pg_catalog.length(b64) + 3) / 4) * 4, '='), 'base64'),
      'sha256'
    ), 'base64'), E'\n', '');
  end if;
  -- Rotation (several secrets) or something to reject with base64_secret_key's message.
  for secret in
    select s from pg_catalog.regexp_split_to_table(pg_catalog.btrim(secrets), '[[:space:]|]+') as s where s <> ''
  loop
    signatures := signatures || ('v1,' || pg_catalog.translate(pg_catalog.encode(
      extensions.hmac(message, profile_sync.base64_secret_key(secret), 'sha256'), 'base64'), E'\n', ''));
  end loop;
  if pg_catalog.cardinality(signatures) = 0 then
    raise exception 'profile_sync_webhook_secret is empty' using errcode = '22023';
  end if;
  return pg_catalog.array_to_string(signatures, ' ');
end
$$;

/*
 * profile_sync.wake_up_drain(queued): asks auth-webhook to drain the queue, once per transaction
 * (a later call in the same transaction does nothing): a Standard-Webhooks-signed POST of
 * {"type":"WAKE_UP","schema":"profile_sync","table":"deliveries"} queued with net.http_post,
 * which pg_net sends after commit (nothing for a transaction that rolls back). URL and secret
 * come from the Vault secrets profile_sync_webhook_url / profile_sync_webhook_secret.
 * The signed request is made once a minute per session (or when a Vault secret changes) and kept
 * in the session setting profile_sync.wake_up (URL, body, headers: a signature over that fixed
 * body, valid for the receiver's 5 minutes; never the secret): so a signup decrypts no Vault
 * secret and computes no HMAC.
 * Replaying it can only make auth-webhook drain. A missing Vault secret, Vault or pg_net is one
 * warning for the transaction, with the number of users its statement queued; the queue keeps
 * them for the pg_cron drain (profile-sync-drain) and reconcile. Anything else raises, for the
 * caller's one handler (notify_auth_user_change: an exception block here would be a second
 * subtransaction on every signup). Internal: the triggers.
 */
create or replace function profile_sync.wake_up_drain(queued bigint)
returns void
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  wake jsonb;
  version text;
  webhook_url text;
  webhook_secret text;
  body jsonb;
  msg_id text;
  msg_timestamp bigint;
begin
  if pg_catalog.current_setting('profile_sync.woken', true) = 'on' then
    return;
  end if;
  -- One attempt per transaction, sent or not (so a missing secret is one warning per transaction).
  perform pg_catalog.set_config('profile_sync.woken', 'on', true);
  if pg_catalog.to_regclass('vault.secrets') is null or pg_catalog.to_regclass('vault.decrypted_secrets') is null then
    raise warning 'profile_sync: Vault is not available (no vault.secrets / vault.decrypted_secrets); '
      '% changed auth users queued without a wake-up', queued;
    return;
  end if;
  wake := nullif(pg_catalog.current_setting('profile_sync.wake_up', true), '')::jsonb;
  -- Which secrets the cached request was made with (read from vault.secrets without decrypting;
  -- creating, updating or deleting one moves the count or the latest updated_at): a changed or
  -- rotated secret is used at once.
  version := (select pg_catalog.count(*)::text || '@' || pg_catalog.max(s.updated_at)::text
    from vault.secrets s where s.name in ('profile_sync_webhook_url', 'profile_sync_webhook_secret'));
  -- The wall clock, not now(): the receiver allows 5 minutes from the signature's timestamp.
  if wake is null or wake ->> 'version' is distinct from version
      or (wake ->> 'until')::bigint < pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) then
    -- checked when the request is made (once a minute): a pg_net dropped since makes
    -- net.http_post raise below, which the trigger's handler turns into a warning
    if pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
      raise warning 'profile_sync: pg_net (net.http_post(text, jsonb, jsonb, jsonb, integer)) is not installed (no such function); '
        '% changed auth users queued without a wake-up', queued;
      return;
    end if;
    select
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_url' limit 1),
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret' limit 1)
      into webhook_url, webhook_secret;
    if coalesce(webhook_url, '') = '' or coalesce(webhook_secret, '') = '' then
      raise warning 'profile_sync: Vault secrets profile_sync_webhook_url and profile_sync_webhook_secret must be set; '
        '% changed auth users queued without a wake-up (the pg_cron drain or reconcile delivers them)', queued;
      return;
    end if;
    body := '{"type": "WAKE_UP", "schema": "profile_sync", "table": "deliveries"}'::jsonb;
    msg_id := 'msg_' || pg_catalog.gen_random_uuid()::text;
    msg_timestamp := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()))::bigint;
    -- pg_net sends convert_to(body::text, 'UTF8'): sign exactly body::text.
    wake := pg_catalog.jsonb_build_object(
      'url', webhook_url,
      'body', body,
      'until', msg_timestamp + 60,
      'version', version,
      'headers', pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', msg_id,
        'webhook-timestamp', msg_timestamp::text,
        'webhook-signature', profile_sync.standard_webhook_signature(msg_id, msg_timestamp, body::text, webhook_secret)
      )
    );
    perform pg_catalog.set_config('profile_sync.wake_up', wake::text, false);
  end if;
  -- A timeout above pg_net's 1 s webhook default, for a cold-started function.
  perform net.http_post(
    url := wake ->> 'url',
    body := wake -> 'body',
    params := '{}'::jsonb,
    headers := wake -> 'headers',
    timeout_milliseconds := 5000
  );
end
$$;

/*
 * profile_sync.notify_auth_user_change(): the statement-level trigger function on auth.users
 * (after insert, after update, after delete; transition tables changed_new / changed_old):
 * queues every changed user in one insert (profile_sync.enqueue_users: a bulk import is one
 * statement's work), then wakes auth-webhook once per transaction (wake_up_drain). For an
 * UPDATE only users whose synced columns changed are queued (the filter the row trigger's WHEN
 * clause held). Never fails the auth write: a failure to queue is one warning for the statement,
 * with the count (reconcile repairs those users). Security definer: Auth's role may not write
 * profile_sync. TRUNCATE (the retired trigger below): nothing to do.
 */
create or replace function profile_sync.notify_auth_user_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  changed uuid[];
  queued bigint;
  err_message text;
  err_state text;
begin
  if tg_op = 'TRUNCATE' then
    return null;
  end if;
  if tg_op = 'UPDATE' then
    -- Only users whose synced columns changed (what the row trigger's WHEN clause held). Read
    -- before the exception block: an update that changes none of them (Auth setting a new
    -- user's role, a token, a timestamp) costs this one read of the transition tables, with no
    -- subtransaction, no queue write and no wake-up.
    changed := array(
      select n.id from changed_new n join changed_old o on o.id = n.id
      where o.email is distinct from n.email
        or o.phone is distinct from n.phone
        or o.raw_user_meta_data is distinct from n.raw_user_meta_data
        or o.raw_app_meta_data is distinct from n.raw_app_meta_data
        or o.is_anonymous is distinct from n.is_anonymous
        or o.email_confirmed_at is distinct from n.email_confirmed_at
        or o.last_sign_in_at is distinct from n.last_sign_in_at
        or o.deleted_at is distinct from n.deleted_at);
    if pg_catalog.cardinality(changed) = 0 then
      return null;
    end if;
  end if;
  -- One exception block (one subtransaction) on the way a signup takes: the queue insert and the
  -- wake-up. When anything in it fails, the change is queued again on its own below, so a failed
  -- wake-up never loses it.
  begin
    if tg_op = 'INSERT' then
      -- New users are new keys: a plain insert (an anti-join, no speculative insertion per row)
      -- keeps a bulk import cheap. Only an id deleted and created again can still have a row:
      -- that one is left as it is (its sync reads the current user); a race on it takes the
      -- general path below.
      insert into profile_sync.deliveries (user_id)
      select n.id from changed_new n
      where not exists (select 1 from profile_sync.deliveries d where d.user_id = n.id);
      get diagnostics queued = row_count;
    elsif tg_op = 'DELETE' then
      queued := profile_sync.enqueue_users(array(select o.id from changed_old o));
    else
      queued := profile_sync.enqueue_users(changed);
    end if;
    if queued > 0 then
      perform profile_sync.wake_up_drain(queued);
    end if;
  exception when others then
    get stacked diagnostics err_message = message_text, err_state = returned_sqlstate;
    -- each transition table is named only where it exists (plpgsql plans a statement when it runs)
    begin
      -- the general path (enqueue_users): what the queue refused above, or what a failed
      -- wake-up took with it
      if tg_op = 'DELETE' then
        queued := profile_sync.enqueue_users(array(select o.id from changed_old o));
      elsif tg_op = 'UPDATE' then
        queued := profile_sync.enqueue_users(changed);
      else
        queued := profile_sync.enqueue_users(array(select n.id from changed_new n));
      end if;
      raise warning 'profile_sync: % changed auth users queued without a wake-up: % (SQLSTATE %)',
        queued, err_message, err_state;
    exception when others then
      if tg_op = 'DELETE' then
        queued := (select count(*) from changed_old);
      elsif tg_op = 'UPDATE' then
        queued := pg_catalog.cardinality(changed);
      else
        queued := (select count(*) from changed_new);
      end if;
      raise warning 'profile_sync: % auth users changed by this %, not queued for auth-webhook: % (SQLSTATE %); '
        'reconcile repairs them', queued, tg_op, sqlerrm, sqlstate;
    end;
  end;
  return null;
end
$$;

create or replace trigger profile_sync_auth_users_inserted
  after insert on auth.users
  referencing new table as changed_new
  for each statement execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_user_updated
  after update on auth.users
  referencing old table as changed_old new table as changed_new
  for each statement execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_users_deleted
  after delete on auth.users
  referencing old table as changed_old
  for each statement execute function profile_sync.notify_auth_user_change();

-- Earlier versions sent one webhook per row from a row trigger of this name. Dropping a trigger
-- takes owning auth.users, which the hosted `postgres` role does not: where the drop is refused
-- the trigger is replaced by one that never fires for a row (after truncate, doing nothing), in
-- this same transaction as the queue's triggers, so no change is sent twice or missed.
do $$
begin
  if exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = 'auth.users'::regclass
      and t.tgname = 'profile_sync_auth_user_inserted_or_deleted') then
    begin
      drop trigger profile_sync_auth_user_inserted_or_deleted on auth.users;
    exception when insufficient_privilege then
      create or replace trigger profile_sync_auth_user_inserted_or_deleted
        after truncate on auth.users
        for each statement execute function profile_sync.notify_auth_user_change();
    end;
  end if;
end
$$;
drop function if exists profile_sync.auth_user_webhook_record(auth.users);

/*
 * profile_sync.forget_deleted_user(): trigger function on auth.users (after delete, per row):
 * removes the deleted user's bookkeeping, as the foreign key's cascade did, and their
 * sync-profile window (recent_syncs), which would otherwise stay forever. Never raises for a
 * user that has none. Security definer: Auth's role may not touch profile_sync.
 */
create or replace function profile_sync.forget_deleted_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from profile_sync.profile_state s where s.user_id = old.id;
  delete from profile_sync.recent_syncs r where r.user_id = old.id;
  return null;
end
$$;

create or replace trigger profile_sync_auth_user_forgotten
  after delete on auth.users
  for each row execute function profile_sync.forget_deleted_user();
