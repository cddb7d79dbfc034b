// Fault: pg_net failing (net.http_post raising) during a burst of 500 signups and 250 updates
// from 10 concurrent sessions, as Auth makes them. Every auth write commits — signups are never
// at risk — and the next reconcile gives every user a correct profile.
import assert from 'node:assert/strict';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { forEachConcurrent } from '../helpers/concurrency.ts';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { reconcileToCompletion } from '../helpers/reconcile_calls.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const SIGNUPS = 500;

Deno.test('pg_net failing: every signup and update commits, reconcile repairs every profile', async () => {
  const db = await freshDatabase('stress_pg_net');
  const stack = await startTestStack(db.url);
  try {
    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    // The stand-in's signature, broken: every call raises, as a pg_net outage or bug would.
    await db.sql`
      create or replace function net.http_post(
        url text, body jsonb default '{}', params jsonb default '{}',
        headers jsonb default '{"Content-Type": "application/json"}', timeout_milliseconds integer default 5000
      ) returns bigint language plpgsql as $$
      begin
        raise exception 'pg_net: could not queue the request' using errcode = 'XX000';
      end
      $$`;
    const ids = Array.from({ length: SIGNUPS }, () => crypto.randomUUID());
    const failures: unknown[] = [];
    const started = performance.now();
    await forEachConcurrent(ids, 10, async (id, i) => {
      await insertAuthUser(db.sql, { id, user_metadata: { full_name: `signup-${i}` } }).catch((err) =>
        failures.push(err)
      );
      if (i % 2 === 0) {
        await updateAuthUser(db.sql, id, { raw_user_meta_data: { full_name: `renamed-${i}` } }).catch((err) =>
          failures.push(err)
        );
      }
    });
    const writesMs = Math.round(performance.now() - started);
    assert.deepEqual(failures, [], 'an auth write failed');
    const [{ users, queued, profiles }] = await db.sql`
      select (select count(*)::int from auth.users) as users, (select count(*)::int from net.http_request_queue) as queued,
             (select count(*)::int from public.profiles) as profiles`;
    assert.deepEqual([users, queued, profiles], [SIGNUPS, 0, 0], 'every write committed; nothing was sent');

    const reports = await reconcileToCompletion(stack.url, { batch_size: 200 });
    console.log(
      `pg_net failing: ${
        JSON.stringify({
          signups: SIGNUPS,
          updates: SIGNUPS / 2,
          writes_ms: writesMs,
          failed_writes: failures.length,
          reconcile_calls: reports.length,
          created: reports.reduce((n, r) => n + r.created, 0),
        })
      }`,
    );
    assert.deepEqual(await profileMismatches(db.sql), [], 'after reconcile every user has a correct profile');
  } finally {
    await stack.close();
    await db.drop();
  }
});
