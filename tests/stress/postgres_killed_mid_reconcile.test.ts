// Fault: the Postgres postmaster SIGKILLed while reconcile is repairing missing profiles, on a
// private cluster. The interrupted call answers 503 (not a 500, not a hang); after crash recovery
// the same running function's next reconcile sees the dead run as abandoned, resumes from its
// cursor, and finishes: every auth user has a correct profile. Twice: 30,000 users, whose pass
// queues them (the queue must survive the crash), and 70,000, whose pass walks auth.users for them
// (profile_sync.reconcile_walked).
import assert from 'node:assert/strict';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { startCluster } from '../helpers/cluster.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { callReconcile, reconcileToCompletion } from '../helpers/reconcile_calls.ts';
import { startTestStack } from '../helpers/stack.ts';

for (const [USERS, walks] of [[30_000, false], [70_000, true]] as const) {
  Deno.test(`Postgres killed mid-reconcile (${USERS} users, ${walks ? 'walked' : 'queued'}): 503, then the next run resumes from the cursor and finishes`, () =>
    killedMidReconcile(USERS, walks));
}

async function killedMidReconcile(USERS: number, walks: boolean) {
  const cluster = await startCluster();
  const stack = await startTestStack(cluster.url);
  try {
    // No Vault secrets: the trigger only warns, so all these users lack a profile.
    await insertAuthUsers(cluster.sql, USERS, 'killed');
    const interrupted = callReconcile(stack.url, { batch_size: 500, time_budget_ms: 120_000 });
    let atKill = 0;
    for (
      const deadline = Date.now() + 60_000;
      atKill < USERS / 10;
      await new Promise((r) => setTimeout(r, 20))
    ) {
      if (Date.now() > deadline) throw new Error('reconcile made no progress');
      [{ n: atKill }] = await cluster.sql`select count(*)::int as n from public.profiles`;
    }
    await cluster.kill();
    const answer = await interrupted;
    await cluster.start();

    const [dead] = await cluster
      .sql`select id, status, cursor, walks_missing from profile_sync.runs order by id desc limit 1`;
    const started = performance.now();
    const reports = await reconcileToCompletion(stack.url, { batch_size: 5_000 });
    const [resumed] = await cluster
      .sql`select resumed_from from profile_sync.runs where id > ${dead.id} order by id limit 1`;
    const [{ status: deadStatus }] = await cluster
      .sql`select status from profile_sync.runs where id = ${dead.id}`;
    console.log(`postgres killed mid-reconcile: ${
      JSON.stringify({
        users: USERS,
        profiles_at_kill: atKill,
        interrupted_call: [answer.status, answer.code],
        dead_run: {
          status_after_crash: dead.status,
          status_after_next_run: deadStatus,
          had_cursor: dead.cursor !== null,
        },
        next_run_resumed_from: resumed?.resumed_from ?? null,
        calls_to_finish: reports.length,
        created_after_restart: reports.reduce((n, r) => n + r.created, 0),
        ms_to_finish: Math.round(performance.now() - started),
      })
    }`);

    assert.deepEqual([answer.status, answer.code, Number(answer.retryAfter) > 0], [
      503,
      'database_unavailable',
      true,
    ]);
    assert.equal(dead.status, 'running', 'the crash left the run marked running');
    assert.equal(
      dead.walks_missing,
      walks,
      walks ? 'the pass walked the missing users' : 'the pass queued them',
    );
    assert.notEqual(dead.cursor, null, 'the dead run had recorded its progress');
    assert.equal(deadStatus, 'abandoned');
    assert.equal(String(resumed?.resumed_from), String(dead.id), 'the next run resumed the dead one');
    assert.ok(
      reports.reduce((n, r) => n + r.created, 0) <= USERS - atKill,
      'the work done before the crash was kept',
    );
    assert.deepEqual(await profileMismatches(cluster.sql), [], 'every auth user has a correct profile');
  } finally {
    await stack.close();
    await cluster.close();
  }
}
