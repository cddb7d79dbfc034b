/**
 * The deliveries panel against durable delivery's contract (DESIGN.md "Durable delivery"):
 * absent, it says so; present (the real queue, or, on a database without it, a stand-in holding
 * exactly the contract's names: profile_sync.deliveries, delivery_status(), delivery_history(since)),
 * it serves the queue's counts and the hourly history since 7 days ago.
 */
import assert from 'node:assert/strict';
import { createDashboardApp } from '../../cli/dashboard/app.ts';
import { cookieName, newDoorKeys } from '../../cli/dashboard/guard.ts';
import { createDb } from '../../shared/db.ts';
import { freshDatabase } from '../helpers/db.ts';

const PORT = 54998;

Deno.test('dashboard deliveries: "not installed", then the queue\'s counts and hours', async () => {
  const db = await freshDatabase('dashboard_deliveries');
  const sql = createDb(db.url, { max: 2 });
  try {
    const keys = newDoorKeys();
    const app = createDashboardApp({ ctx: { sql, dbUrl: db.url, interactive: false }, keys, port: PORT });
    const get = async () => {
      const res = await app.request(`http://127.0.0.1:${PORT}/api/deliveries`, {
        headers: { host: `127.0.0.1:${PORT}`, cookie: `${cookieName(PORT)}=${keys.session}` },
      });
      assert.equal(res.status, 200);
      return await res.json();
    };
    const [{ installed }] = await db.sql`select to_regclass('profile_sync.deliveries') is not null as installed`;
    if (!installed) {
      assert.deepEqual(await get(), { installed: false });
      await db.sql.unsafe(`
        create table profile_sync.deliveries (user_id uuid primary key, due_at timestamptz, attempts int, dead_at timestamptz);
        create function profile_sync.delivery_status()
        returns table (queued bigint, oldest_due_age_s bigint, retrying bigint, dead bigint)
        language sql as $$ select 3::bigint, 42::bigint, 1::bigint, 2::bigint $$;
        create function profile_sync.delivery_history(since timestamptz)
        returns table (hour timestamptz, delivered bigint, retried bigint, dead bigint)
        language sql as $$
          select h, 10::bigint, 1::bigint, 0::bigint
          from generate_series(date_trunc('hour', now()) - interval '9 days', date_trunc('hour', now()), interval '1 day') h
          where h >= date_trunc('hour', since)
        $$;`);
    }
    const body = await get();
    assert.equal(body.installed, true);
    const [counts] = await db.sql`select * from profile_sync.delivery_status()`;
    assert.deepEqual(body.counts, {
      queued: Number(counts.queued), oldest_due_age_s: Number(counts.oldest_due_age_s),
      retrying: Number(counts.retrying), dead: Number(counts.dead),
    });
    const hours = await db.sql`select hour, delivered from profile_sync.delivery_history(now() - interval '7 days') order by hour`;
    assert.deepEqual(body.hours.map((h: { hour: string; delivered: number }) => [h.hour, h.delivered]),
      hours.map((h) => [h.hour.toISOString(), Number(h.delivered)]));
  } finally {
    await sql.end({ timeout: 1 });
    await db.drop();
  }
});
