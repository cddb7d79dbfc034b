/**
 * drift_counts (per-range checksums, then exact counting of the ranges that differ) gives exactly
 * what classifying every row gives, and drift_exact's two ways of classifying (range by range
 * through the primary keys; whole tables by hash join) agree, samples included.
 */
import assert from 'node:assert/strict';
import type { Sql } from '../../shared/db.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { syncThroughCore } from './scenario.ts';

// Every range (0..65535), empty ones included, or only the ranges some row of auth.users, the
// profiles or the bookkeeping falls in, plus the first and last (all 65,536 ranges take ~10 s a
// call: the full set is compared once, where the drift is richest).
const ALL_RANGES = 'select generate_series(0, 65535)';
const USED_RANGES = `
  select get_byte(uuid_send(x.id), 0) * 256 + get_byte(uuid_send(x.id), 1)
  from (select id from auth.users union select id from public.profiles union select user_id from profile_sync.profile_state) x
  union select 0 union select 65535`;

async function compare(sql: Sql, ranges = USED_RANGES) {
  const [fast] = await sql`select missing, stale, orphaned, samples from profile_sync.drift_counts(5)`;
  const [whole] = await sql`select missing, stale, orphaned, samples from profile_sync.drift_exact(null, 5)`;
  const [byRange] = await sql.unsafe(`
    select missing, stale, orphaned, samples from profile_sync.drift_exact(array(${ranges} order by 1), 5)`);
  const [{ differing }] = await sql`select count(*)::int as differing from profile_sync.drift_buckets() where not in_sync`;
  assert.deepEqual(fast, whole);
  assert.deepEqual(byRange, whole);
  return { counts: [Number(fast.missing), Number(fast.stale), Number(fast.orphaned)], differing };
}

Deno.test('drift_counts equals row-by-row classification; ranges and whole-table classification agree', async () => {
  const db = await freshDatabase('drift_counts');
  const { sql } = db;
  try {
    const ids = await insertAuthUsers(sql, 3000, 'counted');
    assert.deepEqual((await compare(sql)).counts, [3000, 0, 0]);
    await syncThroughCore(sql, ids);
    assert.deepEqual(await compare(sql), { counts: [0, 0, 0], differing: 0 });

    // a little drift of every kind: only the ranges it touches are read row by row
    await sql`delete from public.profiles where id = ${ids[0]}`;
    await renameAuthUsers(sql, ids.slice(1, 3), 'renamed');
    await sql`delete from profile_sync.profile_state where user_id = ${ids[3]}`;
    await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`delete from auth.users where id = any(${ids.slice(4, 6)}::uuid[])`;
    });
    // bookkeeping newer than auth (a clock step): the range differs, but this is not drift
    await sql`update profile_sync.profile_state set auth_updated_at = auth_updated_at + interval '1 hour' where user_id = ${ids[6]}`;
    const small = await compare(sql);
    assert.deepEqual(small.counts, [1, 3, 2]);
    assert.ok(small.differing > 0 && small.differing <= 256, `few ranges differ (${small.differing})`);

    // many ranges differ
    await renameAuthUsers(sql, ids.slice(100, 2100), 'renamed again');
    const large = await compare(sql, ALL_RANGES);
    assert.deepEqual(large.counts, [1, 2003, 2]);
    assert.ok(large.differing > 256, `many ranges differ (${large.differing})`);
  } finally {
    await db.drop();
  }
});
