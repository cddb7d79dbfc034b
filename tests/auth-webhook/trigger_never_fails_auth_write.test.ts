/**
 * The auth.users triggers can never fail the auth write: with Vault secrets missing or malformed,
 * Vault or pg_net absent, net.http_post raising, the queue refusing, or the function down,
 * inserts, updates and deletes all commit; the triggers only raise a warning (one per
 * transaction, never quoting the secret), and the changed users wait in the queue.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { adminDatabaseUrl, freshDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { freePort, startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';
import { newWebhookSecret, setWebhookVault } from './helpers.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A fresh database and a client that keeps the warnings Postgres sends: a superuser one, which
 * breaks Supabase's pieces (drops pg_net, Vault) and writes as Auth's role.
 */
async function withWarnings(label: string, body: (db: TestDb, sql: postgres.Sql, warnings: string[]) => Promise<void>) {
  const db = await freshDatabase(label);
  const warnings: string[] = [];
  const sql = postgres(adminDatabaseUrl(db.name), {
    max: 1,
    onnotice: (n) => String(n.message).startsWith('profile_sync:') && warnings.push(String(n.message)),
  });
  try {
    await body(db, sql, warnings);
  } finally {
    await sql.end();
    await db.drop();
  }
}

/** Insert, update (synced column) and delete one user as Auth's role; all must commit. */
async function writeAsAuth(sql: postgres.Sql): Promise<void> {
  const id = crypto.randomUUID();
  await sql.begin(async (tx) => {
    await tx`set local role supabase_auth_admin`;
    await insertAuthUser(tx as never, { id });
    await updateAuthUser(tx as never, id, { email: `${id.slice(0, 8)}@changed.example` });
  });
  const [{ n }] = await sql`select count(*)::int as n from auth.users where id = ${id}`;
  assert.equal(n, 1, 'the insert committed');
  await sql`delete from auth.users where id = ${id}`;
}

const queued = async (sql: postgres.Sql) => (await sql`select count(*)::int as n from net.http_request_queue`)[0].n;
/**
 * writeAsAuth's changes queue one user once (the update and the delete of a waiting user add
 * nothing), so one wake-up is tried: one warning.
 */
const WARNINGS = 1;

/** Replaces net.http_post with one that queues a request and then raises (pg_net out of space). */
const makeHttpPostRaise = (sql: postgres.Sql) => sql`
  create or replace function net.http_post(
    url text, body jsonb default '{}'::jsonb, params jsonb default '{}'::jsonb,
    headers jsonb default '{}'::jsonb, timeout_milliseconds integer default 5000
  ) returns bigint language plpgsql as $$
  begin
    insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    values ('POST', url, headers, null, timeout_milliseconds);
    raise exception 'pg_net: out of queue space' using errcode = '53100';
  end $$`;

Deno.test('trigger: Vault secrets not set → the write commits, a warning says what to set', () =>
  withWarnings('trg_no_secrets', async (_db, sql, warnings) => {
    await writeAsAuth(sql);
    assert.equal(await queued(sql), 0);
    assert.equal(warnings.length, WARNINGS, warnings.join('\n'));
    assert.match(warnings[0], /profile_sync_webhook_url and profile_sync_webhook_secret must be set; 1 changed auth users queued without a wake-up/);
  }));

Deno.test('trigger: a malformed secret in Vault → the write commits, the warning hides the secret', () =>
  withWarnings('trg_bad_secret', async (_db, sql, warnings) => {
    const bad = 'whsec_not*base64*TOPSECRETVALUE';
    await setWebhookVault(sql, 'http://127.0.0.1:9/x', bad);
    await writeAsAuth(sql);
    assert.equal(await queued(sql), 0);
    assert.equal(warnings.length, WARNINGS, warnings.join('\n'));
    assert.match(warnings[0], /must be v1,whsec_<base64>/);
    assert.ok(warnings.every((w) => !w.includes('TOPSECRETVALUE')), warnings.join('\n'));
  }));

Deno.test('trigger: net.http_post raising → the write commits with a warning', () =>
  withWarnings('trg_net_raises', async (_db, sql, warnings) => {
    await setWebhookVault(sql, 'http://127.0.0.1:9/x', newWebhookSecret());
    await makeHttpPostRaise(sql);
    await writeAsAuth(sql);
    assert.equal(await queued(sql), 0, 'the failed call left nothing behind');
    assert.equal(warnings.length, WARNINGS, warnings.join('\n'));
    assert.match(warnings[0], /1 changed auth users queued without a wake-up: pg_net: out of queue space \(SQLSTATE 53100\)/);
  }));

Deno.test('trigger: net.http_post raising on an update of 3 users → only the one whose synced column changed is queued', () =>
  withWarnings('trg_net_raises_update', async (_db, sql, warnings) => {
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const id of ids) await insertAuthUser(sql as never, { id });
    await setWebhookVault(sql, 'http://127.0.0.1:9/x', newWebhookSecret());
    await makeHttpPostRaise(sql);
    await sql`delete from profile_sync.deliveries`;
    warnings.length = 0;
    // one statement: a name for the first user, only updated_at (not synced) for the other two
    await sql`
      update auth.users set updated_at = now(),
        raw_user_meta_data = case when id = ${ids[0]} then '{"full_name":"Renamed"}'::jsonb else raw_user_meta_data end
      where id = any(${ids}::uuid[])`;
    const rows = await sql`select user_id from profile_sync.deliveries`;
    assert.deepEqual(rows.map((r) => r.user_id), [ids[0]]);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^profile_sync: 1 changed auth users queued without a wake-up: pg_net: out of queue space/);
  }));

Deno.test('trigger: pg_net not installed → the write commits with a warning', () =>
  withWarnings('trg_no_net', async (_db, sql, warnings) => {
    await setWebhookVault(sql, 'http://127.0.0.1:9/x', newWebhookSecret());
    await sql`drop schema net cascade`;
    await writeAsAuth(sql);
    assert.equal(warnings.length, WARNINGS, warnings.join('\n'));
    assert.match(warnings[0], /pg_net .* is not installed .*1 changed auth users queued without a wake-up/);
  }));

Deno.test('trigger: Vault not installed → the write commits with a warning', () =>
  withWarnings('trg_no_vault', async (_db, sql, warnings) => {
    await sql`drop schema vault cascade`;
    await writeAsAuth(sql);
    assert.equal(await queued(sql), 0);
    assert.equal(warnings.length, WARNINGS, warnings.join('\n'));
    assert.match(warnings[0], /Vault is not available .*1 changed auth users queued without a wake-up/);
  }));

Deno.test('trigger: the function down → the write commits, the response row records the error', () =>
  withWarnings('trg_fn_down', async (db, sql, warnings) => {
    const stack = await startTestStack(db.url, { relay: true });
    try {
      const closedPort = freePort();
      await setWebhookVault(sql, `http://127.0.0.1:${closedPort}/functions/v1/auth-webhook`, newWebhookSecret());
      const id = await insertAuthUser(sql);
      assert.deepEqual(warnings, []);
      const [answer] = await waitFor('the relay to record the failure', async () => {
        const rows = await sql`select status_code, error_msg, timed_out from net._http_response`;
        return rows.length > 0 ? rows : undefined;
      });
      assert.equal(answer.status_code, null);
      assert.ok(answer.error_msg, 'error_msg is recorded');
      const [{ n }] = await sql`select count(*)::int as n from auth.users where id = ${id}`;
      assert.equal(n, 1);
    } finally {
      await stack.close();
    }
  }));

Deno.test('trigger: the queue refusing → the write commits, one warning for the statement with the count', () =>
  withWarnings('trg_queue_refuses', async (_db, sql, warnings) => {
    await sql`alter table profile_sync.deliveries add constraint refuse_all check (false) not valid`;
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await sql.begin(async (tx) => {
      await tx`set local role supabase_auth_admin`;
      for (const id of ids) await insertAuthUser(tx as never, { id });
    });
    const [{ n }] = await sql`select count(*)::int as n from auth.users where id = any(${ids}::uuid[])`;
    assert.equal(n, 3);
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings[0], /1 auth users changed by this INSERT, not queued for auth-webhook: .*refuse_all.*reconcile repairs them/);
  }));

Deno.test('trigger: Vault secrets not set → a bulk insert of 500 users is one warning, with the count', () =>
  withWarnings('trg_bulk_warning', async (_db, sql, warnings) => {
    await sql.begin(async (tx) => {
      await tx`set local role supabase_auth_admin`;
      await tx`insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
          created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
          'bulk' || i || '@example.com', '{"provider":"email"}', '{}', now(), now(), '', '', '', ''
        from generate_series(1, 500) i`;
    });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /500 changed auth users queued without a wake-up/);
    const [{ n }] = await sql`select count(*)::int as n from profile_sync.deliveries`;
    assert.equal(n, 500);
  }));
