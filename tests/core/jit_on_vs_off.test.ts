/**
 * JIT on costs the core nothing: on a server with LLVM JIT (the suite's when it has JIT, else a
 * throwaway Debian PostgreSQL 15 of its own), a one-user sync (the webhook's and sync-profile's
 * call) and a reconcile page each take at most 1.5x their time with `jit = off`. (Issue #19: with
 * estimates of 1e10, LLVM compiled the sync on every call: 5 s instead of 10 ms.) Medians of
 * calls alternating on and off (the sync's on one session), so a busy machine slows both alike.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { createDb } from '../../shared/db.ts';
import { reconcile } from '../../shared/reconcile.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { adminDatabaseUrl, freshDatabase } from '../helpers/db.ts';
import { skipPg15, startPg15 } from '../reconcile/pg15.ts';

const MAX_RATIO = 1.5;
const USERS = 10_000;
const PAGE = 1_000;

/** Whether the suite's server compiles with LLVM (Debian's PostgreSQL 15 does; the embedded build cannot). */
async function suiteHasJit(): Promise<boolean> {
  const sql = postgres(Deno.env.get('TEST_DATABASE_URL')!, { max: 1, onnotice: () => {} });
  try {
    const [{ jit }] = await sql`select pg_catalog.pg_jit_available() as jit`;
    return jit;
  } finally {
    await sql.end();
  }
}

const onSuiteServer = await suiteHasJit();
if (!onSuiteServer) console.warn('jit_on_vs_off: this suite\'s server has no JIT (the embedded build); using a PostgreSQL 15 of its own');

/** A JIT-capable database with the migrations: `url` as the owner `postgres`, `admin` as a superuser. */
async function jitDatabase(): Promise<{ name: string; url: string; admin: string; close(): Promise<void> }> {
  if (onSuiteServer) {
    const db = await freshDatabase('jit_on_vs_off');
    return { name: db.name, url: db.url, admin: adminDatabaseUrl(db.name), close: db.drop };
  }
  const pg = await startPg15('postgres'); // its `postgres` is the superuser
  const url = await pg.database('jit_on_vs_off');
  return { name: 'jit_on_vs_off', url, admin: url, close: pg.close };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs `measure(jit)` (which returns the ms of what it timed) `rounds` times each way, alternating
 * which goes first; returns the medians.
 */
async function onAndOff(rounds: number, measure: (jit: 'on' | 'off') => Promise<number>) {
  const ms = { on: [] as number[], off: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const jit of i % 2 === 0 ? ['on', 'off'] as const : ['off', 'on'] as const) ms[jit].push(await measure(jit));
    // clearly failing (LLVM compiling every call takes seconds): no need to wait for all rounds
    if (i >= 2 && median(ms.on) > 10 * MAX_RATIO * median(ms.off)) break;
  }
  return { on: median(ms.on), off: median(ms.off) };
}

/** The ms `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function assertRatio(what: string, t: { on: number; off: number }) {
  const ratio = t.on / t.off;
  console.log(`${what}: jit on ${t.on.toFixed(1)} ms, off ${t.off.toFixed(1)} ms (${ratio.toFixed(2)}x)`);
  assert.ok(ratio <= MAX_RATIO, `${what} is ${ratio.toFixed(2)}x slower with jit = on (${t.on.toFixed(1)} ms vs ${t.off.toFixed(1)} ms)`);
}

Deno.test({
  name: `with jit = on a one-user sync and a reconcile page take at most ${MAX_RATIO}x their time with jit = off`,
  ignore: !onSuiteServer && skipPg15(),
}, async (t) => {
  const db = await jitDatabase();
  const admin = postgres(db.admin, { max: 1, onnotice: () => {} });
  // one session for both ways (two backends differ by more than JIT ever should), jit set per call
  const session = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const [{ available }] = await admin`select pg_catalog.pg_jit_available() as available`;
    assert.equal(available, true, 'this server has JIT');
    await admin.begin(async (tx) => {
      await tx`set local session_replication_role = replica`; // users that predate the triggers
      await insertAuthUsers(tx, USERS, 'jit');
    });
    await admin`analyze auth.users`;
    const [{ id }] = await admin`select id from auth.users order by id limit 1`;

    await t.step('a one-user sync (sync_isolated, as the webhook and sync-profile call it)', async () => {
      const sync = () => session`select profile_sync.sync_isolated(${[id]}::uuid[], 'api')`;
      await sync(); // the first call plans and creates the profile; the rest find it unchanged
      // many calls of a few ms, on and off interleaved one by one: a busy machine slows both alike
      assertRatio('one-user sync', await onAndOff(75, async (jit) => {
        await session`select pg_catalog.set_config('jit', ${jit}, false)`;
        return await timed(sync);
      }));
    });

    await t.step(`a reconcile page of ${PAGE} missing profiles (its session and pool as the function opens them)`, async () => {
      const page = async (jit: 'on' | 'off') => {
        await admin`delete from public.profiles where id in (select id from auth.users order by id limit ${PAGE})`;
        // new connections of the owner in this database get the setting
        await admin.unsafe(`alter role postgres in database "${db.name}" set jit = ${jit}`);
        const pool = createDb(db.url, { max: 2 });
        try {
          let created = 0;
          const ms = await timed(async () => {
            created = (await reconcile({ sql: pool, dbUrl: db.url }, { batchSize: PAGE })).created;
          });
          assert.equal(created, PAGE);
          return ms;
        } finally {
          await pool.end();
        }
      };
      try {
        await reconcile({ sql: session, dbUrl: db.url }); // the first run creates the other profiles
        assertRatio('reconcile page', await onAndOff(3, page));
      } finally {
        await admin.unsafe(`alter role postgres in database "${db.name}" reset jit`);
      }
    });
  } finally {
    await Promise.all([session.end(), admin.end()]);
    await db.close();
  }
});
