/**
 * A batch sync is planned for the tables as they are when it runs, not as they were when the
 * session first synced: a session that synced once into an empty profile table, then syncs a
 * batch after the table has grown, uses the plan a new session makes for that batch (the key
 * probes), never one made for the empty table (which read the grown table whole, per user: a
 * reconcile of 20,000 missing users took 32 s instead of 2 s). Plans compared through
 * auto_explain, shape only (node types and relations), so the test does not depend on timing.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { type Explained, explainingConnection, type PlanNode } from '../helpers/auto_explain.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';

const USERS = 30_000;
const BATCH = 2_000;

/** The plan's shape: each node's type and relation, depth first. */
function shape(node: PlanNode, depth = 0): string[] {
  const here = `${'  '.repeat(depth)}${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`;
  return [here, ...(node.Plans ?? []).flatMap((p) => shape(p, depth + 1))];
}

/** A session that logs the plan of every statement it runs, nested ones included. */
async function explainingSession(name: string) {
  const plans: Explained[] = [];
  const sql = await explainingConnection(name, (explained) => plans.push(explained));
  /** Syncs `ids` and returns the shape of the compiled write statement's plan. */
  const syncPlan = async (ids: string[]) => {
    plans.length = 0;
    await sql`select count(*) from profile_sync.sync_users(${ids}::uuid[])`;
    const write = plans.find((p) => p.query.includes('profile_sync.sync_decisions($1)'));
    assert.ok(write, 'auto_explain saw the compiled write statement');
    return shape(write.plan).join('\n');
  };
  return { sql, syncPlan };
}

Deno.test('a batch sync is planned for the tables as they are now, whatever the session planned before', async () => {
  const db = await freshDatabase('plans_follow');
  try {
    const ids = await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      return await insertAuthUsers(tx, USERS, 'grow');
    });
    ids.sort();
    // the profile table and the bookkeeping empty, and known to be: as after an install or a reset
    await db.sql`analyze auth.users, public.profiles, profile_sync.profile_state`;

    const early = await explainingSession(db.name);
    const fresh = await explainingSession(db.name);
    try {
      // the first session syncs a batch into the empty tables
      await early.syncPlan(ids.slice(0, BATCH));
      // the tables grow (another connection, as a reconcile's other worker would), faster than
      // autovacuum analyzes them (an analyze would make every session plan afresh)
      await db.sql`select count(*) from profile_sync.sync_users(${ids.slice(BATCH, USERS - 2 * BATCH)}::uuid[])`;
      // the same session's next batch is planned as a new session plans it
      const later = await early.syncPlan(ids.slice(USERS - 2 * BATCH, USERS - BATCH));
      const now = await fresh.syncPlan(ids.slice(USERS - BATCH));
      assert.equal(later, now, 'the session that began on empty tables plans its batch as a new session does');
    } finally {
      await early.sql.end();
      await fresh.sql.end();
    }
    const [{ missing }] = await db.sql`
      select count(*)::int as missing from auth.users u where not exists (select from public.profiles p where p.id = u.id)`;
    assert.equal(missing, 0, 'every user has a profile');
  } finally {
    await db.drop();
  }
});
