/**
 * auth-webhook's single-record payloads that arrive together go to the database together
 * (createDeliveryBatcher): with every slot busy, the users of the requests arriving meanwhile go in
 * one call of deliverUsers (one claim, one settle), and each request still gets its own user's
 * outcome. Two batchers on
 * separate connections naming the same users in opposite orders (claim_deliveries queues them in
 * user id order) finish, and every user is synced.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { createDeliveryBatcher, deliverUsers } from '../../shared/deliveries.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { queueRows } from './helpers.ts';

Deno.test('single records arriving together share one call; each gets its own outcome', async () => {
  const db = await freshDatabase('dlv_batcher');
  try {
    const ids = await insertAuthUsers(db.sql, 20, 'batch');
    const calls: number[] = [];
    const batcher = createDeliveryBatcher((batch) => {
      calls.push(batch.length);
      return deliverUsers(db.sql, batch, 'auth-webhook');
    }, 1);
    // the second user twice: both of its requests get its one result
    const results = await Promise.all([...ids, ids[1]].map((id) => batcher.deliver(id)));
    assert.deepEqual(calls, [1, 19], 'the first alone, the 19 others (one named twice) in the next call');
    assert.deepEqual(results.map((r) => r?.user_id), [...ids, ids[1]]);
    assert.ok(results.every((r) => r?.outcome === 'created'), JSON.stringify(results));
    assert.deepEqual(await queueRows(db.sql), []);
    assert.deepEqual(await profileMismatches(db.sql), []);
  } finally {
    await db.drop();
  }
});

Deno.test('a failing call fails each of its requests, and the next call goes on', async () => {
  const db = await freshDatabase('dlv_batcher_fail');
  try {
    const [a, b] = await insertAuthUsers(db.sql, 2, 'batchfail');
    let fail = true;
    const batcher = createDeliveryBatcher((batch) => {
      if (fail) {
        fail = false;
        return Promise.reject(Object.assign(new Error('connection lost'), { code: '08006' }));
      }
      return deliverUsers(db.sql, batch, 'auth-webhook');
    }, 1);
    const [first, second] = await Promise.allSettled([batcher.deliver(a), batcher.deliver(b)]);
    assert.equal(first.status, 'rejected');
    assert.equal(second.status, 'fulfilled');
    assert.equal((second as PromiseFulfilledResult<{ outcome: string } | undefined>).value?.outcome, 'created');
  } finally {
    await db.drop();
  }
});

Deno.test('two batchers naming the same users in opposite orders: no deadlock, every user synced', async () => {
  const db = await freshDatabase('dlv_batcher_order');
  const pools = [1, 2].map(() => postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }));
  try {
    const ids = await insertAuthUsers(db.sql, 400, 'order');
    await db.sql`delete from profile_sync.deliveries`;
    const batchers = pools.map((sql) => createDeliveryBatcher((batch) => deliverUsers(sql, batch, 'auth-webhook'), 1));
    const forward = ids.map((id) => batchers[0].deliver(id));
    const backward = [...ids].reverse().map((id) => batchers[1].deliver(id));
    const results = await Promise.all([...forward, ...backward]);
    // a user the other batcher held is not in this one's results (auth-webhook then syncs it directly)
    const synced = results.filter((r) => r !== undefined).map((r) => r!.user_id);
    assert.equal(new Set(synced).size, ids.length, 'every user synced by one of them');
    assert.deepEqual(await queueRows(db.sql), []);
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = any(${ids}::uuid[])`;
    assert.equal(n, 400);
  } finally {
    for (const p of pools) await p.end();
    await db.drop();
  }
});
