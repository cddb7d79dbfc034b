import { prepareTestCluster } from './test.mjs';
import { seedUsers } from '../bench/lib/cluster.mjs';
import postgres from 'postgres';
const c = await prepareTestCluster();
const sql = postgres(c.templateUrl.replace('postgres:postgres@','supabase_admin:postgres@'), { max: 1, onnotice: () => {} });
await seedUsers(sql, 20000);
await sql.unsafe('vacuum analyze auth.users');
const once = async () => { await sql.unsafe('truncate public.profiles, profile_sync.profile_state'); const s = performance.now(); await sql.unsafe("select count(*) from profile_sync.sync_users(array(select id from auth.users))"); return performance.now() - s; };
const res = { off: [], on: [] };
for (let i = 0; i < 5; i++) {
  await sql.unsafe("alter function profile_sync.safe_avatar_url(text) reset search_path");
  res.off.push(await once());
  await sql.unsafe("alter function profile_sync.safe_avatar_url(text) set search_path = ''");
  res.on.push(await once());
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
console.log('sync_users of 20k: median no SET', med(res.off).toFixed(0), 'SET', med(res.on).toFixed(0), res);
await sql.end(); await c.stop();
