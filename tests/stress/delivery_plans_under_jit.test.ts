/**
 * With 1,000,000 rows queued (a bulk import not yet drained), every statement the queue's own
 * functions run — claim, settle, a single-record payload's delivery, status, the listing, replay, the triggers' insert — has an
 * estimated total cost below jit_above_cost (100,000), so no server compiles them with LLVM.
 * The plans are the real ones: auto_explain reports each nested statement as the functions run.
 */
import assert from 'node:assert/strict';
import { explainingConnection } from '../helpers/auto_explain.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

const JIT_ABOVE_COST = 100_000;

Deno.test('the queue statements stay under jit_above_cost with 1,000,000 rows queued', async () => {
  const db = await freshDatabase('dlv_plans');
  const plans: { text: string; cost: number }[] = [];
  let sql: Awaited<ReturnType<typeof explainingConnection>> | undefined;
  try {
    await db.sql`insert into profile_sync.deliveries (user_id, due_at)
      select gen_random_uuid(), now() - random() * interval '1 hour' from generate_series(1, 1000000)`;
    await db.sql`update profile_sync.deliveries set dead_at = now(), attempts = 8 where random() < 0.01`;
    await db.sql`vacuum analyze profile_sync.deliveries`;
    const someIds = (await db.sql`select user_id from profile_sync.deliveries where dead_at is null limit 20`).map((r) => r.user_id);

    sql = await explainingConnection(db.name, ({ query, plan }) => plans.push({ text: query, cost: Number(plan['Total Cost']) }));
    const claimed = (await sql`select user_id from profile_sync.claim_deliveries(500, ${someIds.slice(0, 5)}::uuid[])`).map((r) => r.user_id);
    assert.equal(claimed.length, 505, 'the 5 named users, then 500 due ones');
    await sql`select * from profile_sync.settle_deliveries(${claimed}::uuid[], 'auth-webhook')`;
    const named = (await sql`select user_id from profile_sync.claim_deliveries(0, ${someIds.slice(5, 6)}::uuid[])`).map((r) => r.user_id);
    await sql`select * from profile_sync.settle_deliveries(${named}::uuid[], 'auth-webhook')`;
    await sql`select * from profile_sync.delivery_status()`;
    await sql`select * from profile_sync.delivery_list(false, 100)`;
    await sql`select * from profile_sync.delivery_list(true, 100)`;
    await sql`select profile_sync.replay_deliveries(${someIds.slice(5)}::uuid[])`;
    await sql`select * from profile_sync.delivery_history(now() - interval '1 day')`;
    await insertAuthUser(sql);

    const ours = plans.filter((p) => /profile_sync\.deliver(ies|y_hours|y_settings)/.test(p.text));
    assert.ok(ours.length >= 10, `${ours.length} statements explained`);
    const over = ours.filter((p) => p.cost >= JIT_ABOVE_COST);
    assert.deepEqual(over.map((p) => `${p.cost}: ${p.text.replace(/\s+/g, ' ').slice(0, 160)}`), []);
  } finally {
    await sql?.end();
    await db.drop();
  }
});
