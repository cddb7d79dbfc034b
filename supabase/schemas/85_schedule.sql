-- The schedule: pg_cron calls POST /functions/v1/reconcile through pg_net every 10 minutes, with
-- the URL and the admin key read from the Vault secrets profile_sync_reconcile_url and
-- profile_sync_admin_key at each run. Where pg_cron is not offered this schedules nothing and
-- applies cleanly. Change it with profile_sync.schedule_reconcile('<cron>'); stop it with
-- profile_sync.unschedule_reconcile() (README "Scheduling").
-- And the delivery drain: pg_cron runs `call profile_sync.drain_deliveries()` every 5 seconds
-- (every minute where pg_cron is older than 1.5, which has no seconds), so a lost wake-up costs
-- seconds. It runs in the database: no HTTP call, no Vault read, and it delivers while the
-- functions are down.

/*
 * profile_sync._require_cron(): raises 55000 when pg_cron is not installed. Internal: the
 * schedule_* functions.
 */
create or replace function profile_sync._require_cron()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed: enable it (create extension pg_cron) first'
      using errcode = '55000';
  end if;
end
$$;

/*
 * profile_sync._unschedule(job): removes the pg_cron job of that name; false when there was none
 * (or no pg_cron). Internal: the unschedule_* functions.
 */
create or replace function profile_sync._unschedule(job text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- two statements: cron.job can only be planned once pg_cron is known to be there
  if pg_catalog.to_regnamespace('cron') is null then
    return false;
  end if;
  if not exists (select 1 from cron.job j where j.jobname = job) then
    return false;
  end if;
  return cron.unschedule(job);
end
$$;

/*
 * profile_sync.schedule_reconcile(schedule): (re)schedules the pg_cron job
 * 'profile-sync-reconcile' (same name: replaces the schedule) with a cron expression, default
 * every 10 minutes. The job posts to the URL in Vault 'profile_sync_reconcile_url' with the key in
 * Vault 'profile_sync_admin_key' as apikey; both are read when the job runs, so rotating a secret
 * needs no reschedule. Each call works 8 s and answers within pg_net's 10 s timeout (a timed-out
 * call would look like a failed delivery); the next call resumes where it stopped. pg_net does not
 * retry: a lost call is made good by the next one. Returns the job id. Raises 55000 without
 * pg_cron. Callers: the database owner only.
 */
create or replace function profile_sync.schedule_reconcile(schedule text default '*/10 * * * *')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform profile_sync._require_cron();
  return cron.schedule('profile-sync-reconcile', schedule, $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_reconcile_url'),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_admin_key')
      ),
      body := '{"time_budget_ms": 8000}'::jsonb,
      timeout_milliseconds := 10000
    )
  $job$);
end
$$;

/*
 * profile_sync.unschedule_reconcile(): removes the 'profile-sync-reconcile' job; false when there
 * was none (or no pg_cron). Callers: the database owner only.
 */
create or replace function profile_sync.unschedule_reconcile()
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  select profile_sync._unschedule('profile-sync-reconcile')
$$;

/*
 * profile_sync.schedule_drain(schedule): (re)schedules the pg_cron job 'profile-sync-drain',
 * which drains the delivery queue in SQL (call profile_sync.drain_deliveries()); default every
 * 5 seconds, falling back to every minute on a pg_cron before 1.5 (no seconds). Returns the job
 * id. Raises 55000 without pg_cron. Callers: the database owner only.
 */
create or replace function profile_sync.schedule_drain(schedule text default '5 seconds')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform profile_sync._require_cron();
  begin
    return cron.schedule('profile-sync-drain', schedule, 'call profile_sync.drain_deliveries()');
  exception when others then
    if schedule !~ 'second' then
      raise;
    end if;
    raise notice 'profile_sync: this pg_cron takes no seconds (1.5+ does); draining every minute';
    return cron.schedule('profile-sync-drain', '* * * * *', 'call profile_sync.drain_deliveries()');
  end;
end
$$;

/*
 * profile_sync.unschedule_drain(): removes the 'profile-sync-drain' job; false when there was
 * none (or no pg_cron). Callers: the database owner only.
 */
create or replace function profile_sync.unschedule_drain()
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  select profile_sync._unschedule('profile-sync-drain')
$$;

-- Schedule once: a job already there (perhaps with a schedule the operator chose) is left alone.
do $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise notice 'profile_sync: pg_cron is not installed; reconcile is not scheduled, and the delivery queue is drained by wake-ups only';
    return;
  end if;
  if not exists (select 1 from cron.job where jobname = 'profile-sync-reconcile') then
    perform profile_sync.schedule_reconcile();
  end if;
  if not exists (select 1 from cron.job where jobname = 'profile-sync-drain') then
    perform profile_sync.schedule_drain();
  end if;
end
$$;
