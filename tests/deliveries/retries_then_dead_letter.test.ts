/**
 * A user whose row the table refuses does not hold back the others: they are delivered, it is
 * rescheduled with a growing, jittered backoff, and after the last attempt it is a dead letter
 * with the last error, the constraint's name and the attempt count; the hourly history counts
 * all of it. A later change of the user revives a dead letter.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { createLogger } from '../../shared/log.ts';
import { createDrainer } from '../../shared/deliveries.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';
import { allDueNow, queueRows, refuseNames } from './helpers.ts';

Deno.test('failed deliveries back off, then become dead letters; the others are delivered', async (t) => {
  const db = await freshDatabase('dlv_dead');
  const drainer = createDrainer(db.sql, createLogger({ sink: () => {} }));
  try {
    await refuseNames(db.sql);
    const refused = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Refused Rita' } });
    const fine = await Promise.all([1, 2, 3].map((i) => insertAuthUser(db.sql, { user_metadata: { full_name: `Fine ${i}` } })));

    await t.step('one drain: the three others delivered, the refused one rescheduled about 5 s out', async () => {
      const report = await drainer.drain();
      assert.deepEqual(report, { batches: 1, delivered: 3, failed: 1 });
      const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = any(${fine}::uuid[])`;
      assert.equal(n, 3);
      const [row] = await queueRows(db.sql);
      assert.equal(row.user_id, refused);
      assert.deepEqual([row.attempts, row.dead_at, row.claimed_at, row.error_code, row.constraint_name],
        [1, null, null, '23514', 'profiles_not_refused']);
      assert.match(row.last_error!, /profiles_not_refused/);
      const wait = (row.due_at.getTime() - Date.now()) / 1000;
      assert.ok(wait > 2 && wait <= 6.1, `first retry in ${wait} s`);
    });

    await t.step('each attempt waits about 7× longer (±20 %), up to 10 h; the 8th failure is dead', async () => {
      const waits: number[] = [];
      for (let attempt = 2; attempt <= 8; attempt++) {
        await allDueNow(db.sql);
        const started = Date.now();
        await drainer.drain();
        const [row] = await queueRows(db.sql);
        assert.equal(row.attempts, attempt);
        if (attempt < 8) {
          assert.equal(row.dead_at, null);
          waits.push((row.due_at.getTime() - started) / 1000);
        } else {
          assert.ok(row.dead_at, 'dead after the 8th attempt');
          assert.equal(row.constraint_name, 'profiles_not_refused');
        }
      }
      const expected = [35, 245, 1715, 12005, 36000, 36000];
      waits.forEach((w, i) => assert.ok(w >= expected[i] * 0.79 && w <= expected[i] * 1.21, `attempt ${i + 2}: ${w} s`));
      assert.ok(waits.reduce((a, b) => a + b, 5) > 20 * 3600, 'about a day of attempts');
    });

    await t.step('a dead letter is never claimed; status and the history count it', async () => {
      await db.sql`update profile_sync.deliveries set due_at = now() - interval '1 hour'`;
      assert.deepEqual(await drainer.drain(), { batches: 0, delivered: 0, failed: 0 });
      const [status] = await db.sql`select * from profile_sync.delivery_status()`;
      assert.deepEqual([status.queued, status.retrying, status.dead].map(Number), [0, 0, 1]);
      const [hour] = await db.sql`select * from profile_sync.delivery_history(now() - interval '1 hour')`;
      assert.deepEqual([hour.delivered, hour.retried, hour.dead].map(Number), [3, 7, 1]);
    });

    await t.step('a new change of the user revives it; fixed, it is delivered', async () => {
      await updateAuthUser(db.sql, refused, { raw_user_meta_data: { full_name: 'Rita' } });
      const [row] = await queueRows(db.sql);
      assert.deepEqual([row.dead_at, row.attempts], [null, 0]);
      assert.deepEqual(await drainer.drain(), { batches: 1, delivered: 1, failed: 0 });
      assert.deepEqual(await queueRows(db.sql), []);
    });
  } finally {
    await db.drop();
  }
});

Deno.test('the hourly history is kept for the retention the settings name', async () => {
  const db = await freshDatabase('dlv_history');
  try {
    await db.sql`insert into profile_sync.delivery_hours (hour, delivered) values
      (date_trunc('hour', now()) - interval '3 days', 5), (date_trunc('hour', now()) - interval '1 day', 7)`;
    await db.sql`select profile_sync.set_delivery_settings(history_days => 2)`;
    const id = await insertAuthUser(db.sql);
    await db.sql`select * from profile_sync.settle_deliveries(array[${id}]::uuid[])`;
    const hours = await db.sql`select delivered::int from profile_sync.delivery_history(now() - interval '10 days')`;
    assert.deepEqual(hours.map((h) => h.delivered), [7, 1], 'the 3-day-old hour is pruned when a new hour starts');
    await assert.rejects(db.sql`select profile_sync.set_delivery_settings(history_days => 0)`, /history_days_check/);
  } finally {
    await db.drop();
  }
});
