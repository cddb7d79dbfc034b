/**
 * `doctor --send-test` proves a signed delivery round-trips (pg_net → auth-webhook, signed with the
 * Vault secret) before it calls the install healthy, and fails naming why when it does not; a
 * mapped column renamed since the mapping was applied is an error naming the mapping field; sync
 * failures are named by constraint on the mapped table; a neutralised trigger's fix says who may run it.
 */
import assert from 'node:assert/strict';
import { DEV_WEBHOOK_SECRET, newWebhookSecret, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { runCli } from './run.ts';

type Check = { check: string; status: string; message: string; fix?: string };

const doctor = async (url: string, ...flags: string[]) => {
  const res = await runCli({ SUPABASE_DB_URL: url }, 'doctor', '--json', ...flags);
  return { ok: res.json.ok, code: res.code, by: Object.fromEntries((res.json.checks as Check[]).map((c) => [c.check, c])) };
};

Deno.test('doctor --send-test: healthy only once a signed test delivery round-trips, and it writes no profile', async () => {
  const db = await freshDatabase('doctor_send_test');
  const stack = await startTestStack(db.url, { relay: true });
  try {
    const profiles = async () => (await db.sql`select count(*)::int as n from public.profiles`)[0].n;
    const before = await profiles();

    const plain = await doctor(db.url);
    assert.equal(plain.by['test delivery'].status, 'warn');
    assert.match(plain.by['test delivery'].fix!, /doctor --send-test/);

    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    const sent = await doctor(db.url, '--send-test');
    assert.equal(sent.by['test delivery'].status, 'ok', sent.by['test delivery'].message);
    assert.equal(await profiles(), before, 'the probe writes no profile');

    // the function and the database hold different secrets: refused, and doctor says which two differ
    await setWebhookVault(db.sql, webhookUrl(stack), newWebhookSecret());
    const wrong = await doctor(db.url, '--send-test');
    assert.equal(wrong.by['test delivery'].status, 'fail');
    assert.equal(wrong.ok, false);
    assert.match(wrong.by['test delivery'].message, /not accepted: 401/);
    assert.match(wrong.by['test delivery'].fix!, /PROFILE_SYNC_WEBHOOK_SECRET .* and the Vault secret profile_sync_webhook_secret differ/);

    // no function at the URL
    await setWebhookVault(db.sql, `${stack.url}/functions/v1/nothing-here`, DEV_WEBHOOK_SECRET);
    assert.equal((await doctor(db.url, '--send-test')).by['test delivery'].status, 'fail');

    const misuse = await runCli({ SUPABASE_DB_URL: db.url }, 'status', '--send-test');
    assert.equal(misuse.code, 2);
    assert.match(misuse.err, /--send-test belongs to `doctor`/);
  } finally {
    await stack.close();
    await db.drop();
  }
});

Deno.test('doctor names a renamed mapped column by its mapping field, and sync failures by constraint on the mapped table', async () => {
  const db = await freshDatabase('doctor_renamed');
  try {
    // a constraint the app added refuses a user's row
    await db.sql`alter table public.profiles add constraint full_name_not_bob check (full_name is distinct from 'Bob')`;
    const bob = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Bob' } });
    await runCli({ SUPABASE_DB_URL: db.url }, 'sync', bob);
    let d = await doctor(db.url);
    assert.equal(d.by['sync failures'].status, 'fail');
    assert.match(d.by['sync failures'].message, /constraint full_name_not_bob 23514 ×1/);
    assert.match(d.by['sync failures'].fix!, /a constraint or trigger on public\.profiles/);

    await db.sql`alter table public.profiles rename column avatar_url to picture`;
    d = await doctor(db.url);
    assert.equal(d.by.mapping.status, 'fail');
    assert.match(d.by.mapping.message, /public\.profiles has no column avatar_url \(mapping field columns\.avatar_url\)/);
    assert.match(d.by.mapping.fix!, /fix columns\.avatar_url, .*user_editable\[1\] in supabase\/profile-sync\.json, then `npx profile-sync generate/);
  } finally {
    await db.drop();
  }
});

Deno.test("a neutralised pasted trigger: doctor's fix says who may drop it", async () => {
  const db = await freshDatabase('doctor_neutralised');
  try {
    await db.sql.unsafe(`
      create function public.old_sync() returns trigger language plpgsql as $$ begin return new; end $$;
      comment on function public.old_sync() is 'Neutralised by profile-sync (apply_mapping, 2026-12-03): it wrote public.profiles';
      create trigger on_auth_user_created after insert on auth.users for each row execute function public.old_sync()`);
    const d = await doctor(db.url);
    assert.equal(d.by.mapping.status, 'warn');
    assert.match(d.by.mapping.fix!, /drop trigger on_auth_user_created on auth\.users;/);
    assert.match(d.by.mapping.fix!, /only the owner of auth\.users \(supabase_auth_admin\) or a superuser may run it: on hosted Supabase `postgres` gets "must be owner of relation users"/);
  } finally {
    await db.drop();
  }
});
