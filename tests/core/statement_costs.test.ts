/**
 * Every statement the core runs stays under jit_above_cost (100,000) at 1,000,000 auth users, so
 * Postgres never compiles one with LLVM (docs/reliability.md, "JIT"): a one-user sync, a sync of
 * 100 ids, a reconcile page (begin, hand-out, sync, advance, finish), drift and status, each run
 * for real with auto_explain logging every statement's plan, nested ones (inside the functions)
 * included, as notices this test reads. On every server the suite runs on.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { explainingConnection } from '../helpers/auto_explain.ts';

const USERS = 1_000_000;
const JIT_ABOVE_COST = 100_000;

Deno.test(`every statement of the core is estimated below jit_above_cost at ${USERS.toLocaleString('en')} users`, async () => {
  const db = await freshDatabase('statement_costs');
  try {
    // 1,000,000 users in sync, set-based (no trigger, no sync: profiles and bookkeeping as a sync
    // leaves them; ids in key order, so each index fills from one end), then a little drift of
    // every kind
    await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`
        insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
          is_anonymous, created_at, updated_at)
        select '00000000-0000-0000-0000-000000000000', g.id, 'authenticated', 'authenticated',
          'u' || g.n || '@example.com', '{"provider":"email"}', '{}', false, '2026-01-01', '2026-01-01'
        from (select gen_random_uuid() as id, n from generate_series(1, ${USERS}::int) n order by 1) g`;
    });
    await Promise.all([
      db.sql`insert into public.profiles (id, email, role, provider) select u.id, u.email, 'user', 'email' from auth.users u`,
      db.sql`
        insert into profile_sync.profile_state (user_id, initial_role, auth_updated_at, synced_at, "synced:role")
        select u.id, 'user', u.updated_at, now(), 'user' from auth.users u`,
    ]);
    await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update auth.users set updated_at = now() where id in (select id from auth.users order by id limit 100 offset 1000)`;
      await tx`delete from public.profiles where id in (select id from auth.users order by id limit 30 offset 500000)`;
    });
    await db.sql`analyze auth.users, public.profiles, profile_sync.profile_state`;

    const plans: { cost: number; query: string; step: string }[] = [];
    let step = '';
    const sql = await explainingConnection(db.name, ({ query, plan }) => {
      plans.push({ cost: plan['Total Cost'], query: query.slice(0, 160), step });
    });
    try {
      const ids = (await sql`select id from auth.users order by id limit 100 offset 2000`).map((r) => r.id as string);
      const run = async (name: string, statement: () => Promise<unknown>) => {
        step = name;
        await statement();
      };

      await run('one-user sync', () => sql`select * from profile_sync.sync_isolated(${[ids[0]]}::uuid[], 'api')`);
      await run('sync of 100 ids', () => sql`select * from profile_sync.sync_isolated(${ids}::uuid[], 'api')`);
      await run('status', () => sql`select * from profile_sync.reconcile_status()`);
      await run('drift', () => sql`select * from profile_sync.drift_counts(20)`);
      await run('reconcile page', async () => {
        const [begun] = await sql`select * from profile_sync.reconcile_begin(1000)`;
        const [page] = await sql`select * from profile_sync.reconcile_page(${begun.run_id}, null, 1000)`;
        const [synced] = await sql`select * from profile_sync.reconcile_sync_page(${begun.run_id}, ${page.from_id}, ${page.last_id})`;
        assert.ok(page.scanned > 0 && synced.updated + synced.created + synced.unchanged === page.scanned, 'the page synced its users');
        await sql`select profile_sync.reconcile_advance(${begun.run_id}, ${page.last_id})`;
        await sql`select profile_sync.reconcile_finish(${begun.run_id}, 'partial')`;
      });
    } finally {
      await sql.end();
    }

    const steps = new Set(plans.map((p) => p.step));
    for (const s of ['one-user sync', 'sync of 100 ids', 'status', 'drift', 'reconcile page']) {
      assert.ok(steps.has(s), `auto_explain saw no statement of ${s}`);
    }
    // the compiled sync statement itself was among them, not only its callers
    assert.ok(plans.some((p) => p.query.includes('profile_sync.sync_decisions($1)')), 'the compiled statement was explained');
    const over = plans.filter((p) => p.cost >= JIT_ABOVE_COST);
    assert.deepEqual(over, [], `statements estimated at jit_above_cost or more:\n${over.map((p) => `${p.step}: ${p.cost} ${p.query}`).join('\n')}`);
  } finally {
    await db.drop();
  }
});
