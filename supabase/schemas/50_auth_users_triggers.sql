-- The triggers profile-sync puts on auth.users.
-- The push path: after insert, delete and relevant updates, a Standard-Webhooks-signed Database
-- Webhook goes to the auth-webhook function through pg_net (sent after commit). URL and secret
-- come from the Vault secrets profile_sync_webhook_url / profile_sync_webhook_secret. Any failure
-- is a warning: the auth write always goes on. Applies cleanly where pg_net and Vault are absent.
-- And the bookkeeping: a deleted user's profile_state goes with it.

/*
 * profile_sync.auth_user_webhook_record(u): the columns of an auth.users row the webhook carries.
 * An allowlist, so a secret column (encrypted_password, *_token) never leaves the database, even
 * one Auth adds later. Internal; called by the trigger function only.
 * No `set search_path` and every name qualified: a SET clause would stop Postgres inlining this
 * into the trigger's expression, which costs each signup a function call.
 */
create or replace function profile_sync.auth_user_webhook_record(u auth.users)
returns jsonb
language sql
stable
as $$
  select pg_catalog.jsonb_build_object(
    'id', u.id,
    'email', u.email,
    'phone', u.phone,
    'raw_user_meta_data', u.raw_user_meta_data,
    'raw_app_meta_data', u.raw_app_meta_data,
    'is_anonymous', u.is_anonymous,
    'email_confirmed_at', u.email_confirmed_at,
    'last_sign_in_at', u.last_sign_in_at,
    'created_at', u.created_at,
    'updated_at', u.updated_at,
    'deleted_at', u.deleted_at
  )
$$;

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
 * profile_sync.notify_auth_user_change(): trigger function on auth.users (after insert, update of
 * a synced column, delete). Builds the Database Webhook payload {type, table, schema, record,
 * old_record} with non-secret columns only, signs it and queues it with net.http_post (sent by
 * pg_net after commit; 5 s timeout, pg_net does not retry: reconcile repairs what is lost).
 * Never fails the auth write: a missing pg_net or Vault secret, or any error, is a warning.
 * Runs as its owner (security definer) because Auth's role may not read Vault.
 * It runs inside every signup, so it checks nothing up front: a missing Vault or pg_net shows
 * up as the error of the statement that needs it, which the handler names.
 */
create or replace function profile_sync.notify_auth_user_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  webhook_url text;
  webhook_secret text;
  payload jsonb;
  msg_id text;
  msg_timestamp bigint;
  stage text := 'vault';
begin
  begin
    select
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_url' limit 1),
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret' limit 1)
      into webhook_url, webhook_secret;
    if coalesce(webhook_url, '') = '' or coalesce(webhook_secret, '') = '' then
      raise warning 'profile_sync: Vault secrets profile_sync_webhook_url and profile_sync_webhook_secret '
        'must be set; % on auth.users not sent to auth-webhook', tg_op;
      return null;
    end if;

    stage := 'sign';
    payload := pg_catalog.jsonb_build_object(
      'type', tg_op,
      'table', tg_table_name,
      'schema', tg_table_schema,
      'record', case when tg_op <> 'DELETE' then profile_sync.auth_user_webhook_record(new) end,
      'old_record', case when tg_op <> 'INSERT' then profile_sync.auth_user_webhook_record(old) end
    );
    msg_id := 'msg_' || pg_catalog.gen_random_uuid()::text;
    -- The wall clock, not now(): the receiver allows 5 minutes from this moment.
    msg_timestamp := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()))::bigint;

    -- pg_net sends convert_to(body::text, 'UTF8'): sign exactly payload::text. A timeout above
    -- pg_net's 1 s webhook default, for a cold-started function.
    stage := 'net';
    perform net.http_post(
      url := webhook_url,
      body := payload,
      params := '{}'::jsonb,
      headers := pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', msg_id,
        'webhook-timestamp', msg_timestamp::text,
        'webhook-signature', profile_sync.standard_webhook_signature(msg_id, msg_timestamp, payload::text, webhook_secret)
      ),
      timeout_milliseconds := 5000
    );
  exception when others then
    -- 3F000: no such schema; 42P01: no such relation; 42883: no such function (or signature).
    if stage = 'vault' and sqlstate in ('3F000', '42P01') then
      raise warning 'profile_sync: Vault is not available; % on auth.users not sent to auth-webhook (%)', tg_op, sqlerrm;
    elsif stage = 'net' and sqlstate in ('3F000', '42883') and sqlerrm ~ 'net' then
      raise warning 'profile_sync: pg_net (net.http_post(text, jsonb, jsonb, jsonb, integer)) is not installed; '
        '% on auth.users not sent to auth-webhook (%)', tg_op, sqlerrm;
    else
      raise warning 'profile_sync: % on auth.users not sent to auth-webhook: % (SQLSTATE %)', tg_op, sqlerrm, sqlstate;
    end if;
  end;
  return null;
end
$$;

create or replace trigger profile_sync_auth_user_inserted_or_deleted
  after insert or delete on auth.users
  for each row execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_user_updated
  after update on auth.users
  for each row
  when (
    old.email is distinct from new.email
    or old.phone is distinct from new.phone
    or old.raw_user_meta_data is distinct from new.raw_user_meta_data
    or old.raw_app_meta_data is distinct from new.raw_app_meta_data
    or old.is_anonymous is distinct from new.is_anonymous
    or old.email_confirmed_at is distinct from new.email_confirmed_at
    or old.last_sign_in_at is distinct from new.last_sign_in_at
    or old.deleted_at is distinct from new.deleted_at
  )
  execute function profile_sync.notify_auth_user_change();

/*
 * profile_sync.forget_deleted_user(): trigger function on auth.users (after delete, per row):
 * removes the deleted user's bookkeeping, as the foreign key's cascade did. Never raises for a
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
  return null;
end
$$;

create or replace trigger profile_sync_auth_user_forgotten
  after delete on auth.users
  for each row execute function profile_sync.forget_deleted_user();
