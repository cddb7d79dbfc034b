// Load: 10,000 signed single-record webhook deliveries at concurrency 64 over HTTP to the local
// stack (an INSERT and an UPDATE per user of 5,000 signups), while Auth renames every user (the
// triggers queue those changes; the queue's drain delivers them). Every delivery is answered 2xx,
// every profile ends equal to its auth row, and the functions' database connections stay within
// their pool (pg_stat_activity sampled throughout).
import assert from 'node:assert/strict';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { sampleConnections } from '../helpers/connections.ts';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { latency, sendAll, singleRecordDeliveries } from '../helpers/sender.ts';
import { waitFor } from '../helpers/wait.ts';
import { startTestStack } from '../helpers/stack.ts';

const USERS = 5_000;
const DELIVERIES = 2 * USERS;
const CONCURRENCY = 64;

Deno.test(`${DELIVERIES} webhook deliveries at concurrency ${CONCURRENCY}: all 2xx, every profile right, connections bounded`, async () => {
  const db = await freshDatabase('stress_load');
  const stack = await startTestStack(db.url, { drainEveryMs: 500 });
  const sampler = sampleConnections(db.url, db.name, 'profile-sync/local');
  try {
    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    const ids = await insertAuthUsers(db.sql, USERS, 'load');
    const started = performance.now();
    // Auth keeps writing while deliveries run: every user renamed, in batches, in shuffled order.
    const shuffled = [...ids].sort(() => Math.random() - 0.5);
    const updates = (async () => {
      for (let i = 0; i < shuffled.length; i += 250) {
        await renameAuthUsers(db.sql, shuffled.slice(i, i + 250), 'v2');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const all = [
      ...singleRecordDeliveries(webhookUrl(stack), ids, 'INSERT'),
      ...singleRecordDeliveries(webhookUrl(stack), shuffled, 'UPDATE'),
    ];
    let taken = 0;
    const answers = await sendAll((n) => Promise.resolve(all.slice(taken, (taken += n))), DELIVERIES, CONCURRENCY);
    await updates;
    await waitFor('the queue drained', async () =>
      (await db.sql`select 1 from profile_sync.deliveries limit 1`).length === 0 ? true : undefined, 60_000).catch(async (err) => {
        console.log('LEFT', JSON.stringify(await db.sql`select count(*)::int n, count(*) filter (where claimed_at is not null)::int claimed, count(*) filter (where dead_at is not null)::int dead, max(attempts) att, min(due_at - now()) due_in, max(last_error) err, bool_or(changed_again) again from profile_sync.deliveries`));
        throw err;
      });
    const seconds = (performance.now() - started) / 1000;
    const peak = await sampler.stop();

    const statuses: Record<string, number> = {};
    for (const a of answers) statuses[a.code ?? a.status] = (statuses[a.code ?? a.status] ?? 0) + 1;
    const figures = {
      deliveries: answers.length,
      concurrency: CONCURRENCY,
      statuses,
      seconds: Number(seconds.toFixed(1)),
      per_second: Math.round(answers.length / seconds),
      latency_ms: latency(answers),
      pool_max: stack.deps.config.dbPoolMax,
      max_function_connections: peak.functions,
      max_connections_on_db: peak.all,
      samples: peak.samples,
    };
    console.log(`webhook load: ${JSON.stringify(figures)}`);

    assert.equal(answers.length, DELIVERIES);
    assert.deepEqual(statuses, { 200: DELIVERIES }, 'every delivery answered 200');
    assert.deepEqual(await profileMismatches(db.sql), [], 'every profile equals its auth row');
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where full_name like 'v2-%'`;
    assert.equal(n, USERS, 'every update arrived');
    assert.ok(peak.samples > 20, 'connections were sampled during the run');
    assert.ok(
      peak.functions >= 1 && peak.functions <= stack.deps.config.dbPoolMax,
      `function connections ${peak.functions}`,
    );
  } finally {
    await sampler.stop().catch(() => {});
    await stack.close();
    await db.drop();
  }
});
