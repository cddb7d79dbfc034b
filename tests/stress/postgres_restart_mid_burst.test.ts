// Fault: Postgres restarted (pg_ctl stop -m fast, 2 s down, start) in the middle of a burst of
// trigger-signed webhook deliveries, on a private cluster. During the outage the function answers
// 503 database_unavailable with Retry-After — never a 500 or a dropped connection — and after it
// the same running function answers 200 again. Deliveries lost to the outage (pg_net does not
// retry) are repaired by the next reconcile: every auth user then has a correct profile.
import assert from 'node:assert/strict';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { startCluster } from '../helpers/cluster.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { reconcileToCompletion } from '../helpers/reconcile_calls.ts';
import type { Delivery } from '../helpers/sender.ts';
import { sendAll, singleRecordDeliveries } from '../helpers/sender.ts';
import { startTestStack } from '../helpers/stack.ts';

const USERS = 1_500;
const RATE = 250; // deliveries per second, so the burst spans the outage
const CONCURRENCY = 16;

/** A source for sendAll that releases `items` at `perSecond`, like a sender working through a backlog. */
function paced(items: Delivery[], perSecond: number) {
  const started = performance.now();
  let given = 0;
  return (limit: number): Promise<Delivery[]> => {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond) - given;
    const batch = items.slice(given, given + Math.max(0, Math.min(limit, due)));
    given += batch.length;
    return Promise.resolve(batch);
  };
}

Deno.test('Postgres restarted mid-burst: 503 with Retry-After during the outage, recovery without restart, reconcile repairs', async () => {
  const cluster = await startCluster();
  const stack = await startTestStack(cluster.url);
  try {
    await setWebhookVault(cluster.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    const ids = await insertAuthUsers(cluster.sql, USERS, 'burst');
    await renameAuthUsers(cluster.sql, ids.slice(0, 500), 'v2');
    // Signed single-record deliveries, one per change, built in memory before the restart.
    const deliveries = [
      ...singleRecordDeliveries(webhookUrl(stack), ids, 'INSERT'),
      ...singleRecordDeliveries(webhookUrl(stack), ids.slice(0, 500), 'UPDATE'),
    ];

    const outage = { stopAt: 0, downAt: 0, startAt: 0, upAt: 0 };
    const restart = (async () => {
      await new Promise((r) => setTimeout(r, 2_500));
      outage.stopAt = Date.now();
      await cluster.stop('fast');
      outage.downAt = Date.now();
      await new Promise((r) => setTimeout(r, 2_000));
      outage.startAt = Date.now();
      await cluster.start();
      outage.upAt = Date.now();
    })();
    const answers = await sendAll(paced(deliveries, RATE), deliveries.length, CONCURRENCY);
    await restart;

    const statuses: Record<string, number> = {};
    for (const a of answers) statuses[a.code ?? a.status] = (statuses[a.code ?? a.status] ?? 0) + 1;
    const unavailable = answers.filter((a) => a.status === 503);
    const firstOkAfter = Math.min(
      ...answers.filter((a) => a.status === 200 && a.at > outage.upAt).map((a) => a.at),
    );
    const driftBefore = await profileMismatches(cluster.sql);
    console.log(`postgres restart mid-burst: ${
      JSON.stringify({
        deliveries: answers.length,
        statuses,
        outage_ms: outage.upAt - outage.stopAt,
        first_200_after_restart_ms: firstOkAfter - outage.upAt,
        max_503_ms: Math.round(Math.max(...unavailable.map((a) => a.ms))),
        drift_before_reconcile: driftBefore.length,
      })
    }`);
    const started = performance.now();
    const reports = await reconcileToCompletion(stack.url, { batch_size: 500 });
    console.log(`  then reconcile: ${
      JSON.stringify({
        calls: reports.length,
        ms: Math.round(performance.now() - started),
        repaired: reports.reduce((n, r) => n + r.created + r.updated, 0),
      })
    }`);

    assert.deepEqual(
      Object.keys(statuses).sort(),
      ['200', 'database_unavailable'],
      'only 200 and 503 database_unavailable',
    );
    assert.ok(unavailable.length >= 20, 'the outage was seen');
    assert.ok(unavailable.every((a) => Number(a.retryAfter) > 0), 'every 503 carries Retry-After');
    assert.ok(unavailable.every((a) => a.at >= outage.stopAt), 'no 503 before the outage');
    // Answered, not left hanging past pg_net's 5 s timeout.
    assert.ok(Math.max(...unavailable.map((a) => a.ms)) < 5_000, 'a 503 took longer than pg_net waits');
    // Between the end of the stop and the start (pg_ctl start returns a little after Postgres is up).
    const duringOutage = answers.filter((a) => a.at > outage.downAt && a.at < outage.startAt);
    assert.ok(
      duringOutage.length > 0 && duringOutage.every((a) => a.status === 503),
      'while Postgres was down every answer was 503',
    );
    const afterRecovery = answers.filter((a) => a.at > outage.upAt + 1_000);
    assert.ok(
      afterRecovery.length >= 50 && afterRecovery.every((a) => a.status === 200),
      'the running function recovered',
    );
    assert.ok(driftBefore.length > 0, 'the outage lost deliveries for reconcile to repair');
    assert.deepEqual(
      await profileMismatches(cluster.sql),
      [],
      'after reconcile every auth user has a correct profile',
    );
  } finally {
    await stack.close();
    await cluster.close();
  }
});
