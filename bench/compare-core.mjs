#!/usr/bin/env node
// `node bench/compare-core.mjs [--users N] [--trials T] <variant>...`: compares versions of the SQL
// core on one cluster, interleaved (trial after trial, variant after variant) so machine noise
// hits them alike. A variant is a git revision (its core migrations: 000200 and the later ones
// that redefine core functions, listed in CORE, those that exist at that revision, in order), `working` (those
// files as they are) or a path to a .sql file (the whole core, as one script). Per variant, medians of: every user synced from empty in batches
// of 1000 (fresh session), and single-user calls in a fresh session (new, unchanged, updated).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { ROOT } from '../local/postgres.mjs';
import { clearProfiles, seedUsers, settle, startCluster } from './lib/cluster.mjs';
import { rawCreateMissing, syncAllInBatches } from './lib/limits.mjs';
import { median } from './lib/load.mjs';

// The migrations that define the core's functions, in the order they apply.
const CORE = [
  'supabase/migrations/20261121000200_create_sync_core.sql',
  'supabase/migrations/20261122000400_sync_decisions_reads_each_user_once.sql',
  'supabase/migrations/20261122000500_sync_users_locks_key_ranges.sql',
  // since the squash: the core's one definition
  'supabase/schemas/30_text_normalisers.sql',
  'supabase/schemas/40_sync_core.sql',
];
const { values: opts, positionals: variants } = parseArgs({
  options: { users: { type: 'string', default: '30000' }, trials: { type: 'string', default: '3' } },
  allowPositionals: true,
});
if (variants.length === 0) {
  console.error('usage: node bench/compare-core.mjs [--users N] [--trials T] <git-rev | working | file.sql>...');
  process.exit(2);
}

function source(variant) {
  if (variant.endsWith('.sql') && existsSync(variant)) return readFileSync(variant, 'utf8');
  const read = (path) => {
    if (variant === 'working') return existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : '';
    try {
      return execFileSync('git', ['show', `${variant}:${path}`], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return ''; // not there yet at that revision
    }
  };
  return CORE.map(read).join('\n');
}

// Server-side loop, so the figures hold no network round trips: 200 first syncs, the same 200
// again (unchanged), then again after an auth change (updated); the first 10 of each are warm-up.
const SINGLE_CALLS = `
do $$
declare
  r record; t timestamptz; a numeric[] := '{}'; b numeric[] := '{}'; c numeric[] := '{}';
begin
  for r in select id from single_calls order by n loop
    t := clock_timestamp(); perform profile_sync.sync_users(array[r.id]);
    a := a || extract(epoch from clock_timestamp() - t)::numeric * 1000;
  end loop;
  for r in select id from single_calls order by n loop
    t := clock_timestamp(); perform profile_sync.sync_users(array[r.id]);
    b := b || extract(epoch from clock_timestamp() - t)::numeric * 1000;
  end loop;
  set local session_replication_role = replica;
  update auth.users set raw_user_meta_data = raw_user_meta_data || '{"full_name":"Changed"}',
    updated_at = clock_timestamp() where id in (select id from single_calls);
  set local session_replication_role = origin;
  for r in select id from single_calls order by n loop
    t := clock_timestamp(); perform profile_sync.sync_users(array[r.id]);
    c := c || extract(epoch from clock_timestamp() - t)::numeric * 1000;
  end loop;
  perform set_config('bench.single_calls', concat_ws(' ',
    (select percentile_cont(0.5) within group (order by x) from unnest(a[11:]) x),
    (select percentile_cont(0.5) within group (order by x) from unnest(b[11:]) x),
    (select percentile_cont(0.5) within group (order by x) from unnest(c[11:]) x)), false);
end $$`;

const cluster = await startCluster();
const results = Object.fromEntries(['raw SQL (the limit)', ...variants].map((v) => [v, { batch: [], single: [] }]));
const session = () => postgres(cluster.url, { max: 1, prepare: false, onnotice: () => {} });
try {
  const users = Number(opts.users);
  let next = users + 1;
  await seedUsers(cluster.sql, users);
  await settle(cluster.sql);
  for (let trial = 0; trial < Number(opts.trials); trial++) {
    for (const variant of Object.keys(results)) {
      const raw = variant === 'raw SQL (the limit)';
      await clearProfiles(cluster.sql);
      if (!raw) {
        const s = session();
        await s.unsafe('drop function if exists profile_sync.sync_decisions(uuid[], text, text[])');
        await s.unsafe(source(variant));
        await s.end();
      }
      await settle(cluster.sql);
      const s = session();
      const t = performance.now();
      if (raw) await rawCreateMissing(s);
      else await syncAllInBatches(s, 1000);
      results[variant].batch.push(performance.now() - t);
      await s.end();
      if (raw) continue;
      const ids = await seedUsers(cluster.sql, 210, { from: next, returnIds: true });
      next += 210;
      const one = session();
      await one.unsafe('create temp table single_calls as select id, row_number() over () as n from unnest($1::uuid[]) as id', [ids]);
      await one.unsafe(SINGLE_CALLS);
      const [{ v }] = await one.unsafe(`select current_setting('bench.single_calls') as v`);
      results[variant].single.push(v.split(' ').map(Number));
      await one.end();
    }
    console.error(`trial ${trial + 1} done`);
  }
  console.log(`${users} users, ${opts.trials} trial(s), medians`);
  console.log('| variant | all users, batches of 1000 | one user: new / unchanged / updated |');
  console.log('| --- | --- | --- |');
  for (const [variant, r] of Object.entries(results)) {
    const single = r.single.length === 0 ? '' : [0, 1, 2].map((i) => median(r.single.map((x) => x[i])).toFixed(2)).join(' / ') + ' ms';
    console.log(`| ${variant} | ${(median(r.batch) / 1000).toFixed(2)} s | ${single} |`);
  }
} finally {
  await cluster.stop();
}
