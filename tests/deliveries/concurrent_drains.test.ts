/**
 * Drains running at once (several auth-webhook instances, the pg_cron job) take different rows
 * (`for update skip locked`): every queued user is synced exactly once, none waits for another.
 * And a change made while a user's row is claimed is never lost: the row stays due.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { createLogger } from '../../shared/log.ts';
import { claimDeliveries, createDrainer, settleDeliveries } from '../../shared/deliveries.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { queueRows } from './helpers.ts';

Deno.test('four concurrent drains deliver 2,000 queued users exactly once', async () => {
  const db = await freshDatabase('dlv_concurrent');
  const pools = [1, 2, 3, 4].map(() => postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }));
  try {
    const ids = await insertAuthUsers(db.sql, 2000, 'conc');
    const drainers = pools.map((sql) => createDrainer(sql, createLogger({ sink: () => {} }), { batch: 100 }));
    const reports = await Promise.all(drainers.map((d) => d.drain()));
    assert.equal(reports.reduce((n, r) => n + r.delivered, 0), 2000, JSON.stringify(reports));
    assert.ok(reports.filter((r) => r.delivered > 0).length >= 2, `the work was shared: ${JSON.stringify(reports)}`);
    assert.deepEqual(await queueRows(db.sql), []);
    assert.deepEqual(await profileMismatches(db.sql), []);
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = any(${ids}::uuid[])`;
    assert.equal(n, 2000);
    const [hour] = await db.sql`select delivered::int from profile_sync.delivery_history(now() - interval '1 hour')`;
    assert.equal(hour.delivered, 2000, 'each user counted once');
  } finally {
    for (const p of pools) await p.end();
    await db.drop();
  }
});

Deno.test('a claimed row is skipped by other drains, and a change made while claimed stays due', async () => {
  const db = await freshDatabase('dlv_claimed');
  try {
    const [a, b] = await insertAuthUsers(db.sql, 2, 'claimed');
    const first = await claimDeliveries(db.sql, 1);
    assert.equal(first.length, 1);
    const second = await claimDeliveries(db.sql, 10);
    assert.deepEqual(second, [first[0] === a ? b : a], 'the other drain gets only the other row');

    // the user changes after the claim (the sync may or may not see it): settle keeps the row due
    await renameAuthUsers(db.sql, [first[0]], 'renamed');
    const [claimed] = (await queueRows(db.sql)).filter((r) => r.user_id === first[0]);
    assert.ok(claimed.claimed_at, 'still claimed: the change did not wait for the drain');
    await settleDeliveries(db.sql, [...first, ...second], 'auth-webhook');
    const left = await queueRows(db.sql);
    assert.deepEqual(left.map((r) => [r.user_id, r.attempts, r.claimed_at]), [[first[0], 0, null]]);
    assert.ok(left[0].due_at.getTime() <= Date.now() + 1000, 'due again at once');
    await settleDeliveries(db.sql, await claimDeliveries(db.sql, 10), 'auth-webhook');
    assert.deepEqual(await queueRows(db.sql), []);
    assert.deepEqual(await profileMismatches(db.sql), []);
  } finally {
    await db.drop();
  }
});
