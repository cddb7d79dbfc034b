/**
 * Database outages: while the function cannot reach Postgres it answers 503
 * database_unavailable with Retry-After (so a sender knows to retry), and when Postgres is back
 * it recovers by itself, without a restart. The outage is real: the function's database URL goes
 * through a TCP relay that the test cuts (every connection dropped, the port refusing) and restores.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { freePort, startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, postWebhook } from './helpers.ts';

/** A TCP relay 127.0.0.1:port → target; close() cuts every connection and stops listening. */
function tcpRelay(port: number, target: { hostname: string; port: number }) {
  const listener = Deno.listen({ hostname: '127.0.0.1', port });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  const closeQuietly = (c: Deno.Conn) => {
    try {
      c.close();
    } catch { /* already closed */ }
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    await from.readable.pipeTo(to.writable).catch(() => {});
    closeQuietly(from);
    closeQuietly(to);
  };
  const accept = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect(target).catch(() => undefined);
      if (!server) {
        closeQuietly(client);
        continue;
      }
      conns.add(client).add(server);
      tasks.push(pipe(client, server), pipe(server, client));
    }
  })().catch(() => {});
  return {
    async close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await accept;
      await Promise.all(tasks);
    },
  };
}

Deno.test('auth-webhook answers 503 with Retry-After while the database is down, then recovers', async (t) => {
  const db = await freshDatabase('webhook_dbdown');
  const dbAddress = new URL(db.url);
  const target = { hostname: dbAddress.hostname, port: Number(dbAddress.port) };
  const relayPort = freePort();
  const viaRelay = new URL(db.url);
  viaRelay.port = String(relayPort);
  let relay = tcpRelay(relayPort, target);
  const stack = await startTestStack(viaRelay.toString());
  try {
    const first = await insertAuthUser(db.sql);
    await t.step('database up: 200', async () => {
      const { status, json } = await postWebhook(stack, minimalEvent('INSERT', first));
      assert.deepEqual([status, json], [200, { user_id: first, outcome: 'created' }]);
    });

    await relay.close();
    const second = await insertAuthUser(db.sql);
    await t.step('connections cut and the port refusing: 503 database_unavailable with Retry-After', async () => {
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const { status, json, headers } = await postWebhook(stack, minimalEvent('INSERT', second));
        assert.equal(status, 503, JSON.stringify(json));
        assert.equal((json.error as { code: string }).code, 'database_unavailable');
        assert.ok(Number(headers.get('retry-after')) > 0);
        assert.ok(performance.now() - started < 6000, 'the outage is reported within the connect timeout');
      }
      const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = ${second}`;
      assert.equal(n, 0);
    });

    relay = tcpRelay(relayPort, target);
    await t.step('database back: the next delivery succeeds without a restart', async () => {
      const { status, json } = await postWebhook(stack, minimalEvent('INSERT', second));
      assert.deepEqual([status, json], [200, { user_id: second, outcome: 'created' }]);
    });

    await t.step("the server ends the function's sessions (pg_terminate_backend): it reconnects", async () => {
      const [{ n }] = await db.sql`
        select count(pg_catalog.pg_terminate_backend(pid))::int as n from pg_catalog.pg_stat_activity
        where datname = ${db.name} and application_name = 'profile-sync/local'`;
      assert.ok(n > 0, 'the function had a session to end');
      const third = await insertAuthUser(db.sql);
      const { status, json } = await postWebhook(stack, minimalEvent('INSERT', third));
      assert.deepEqual([status, json], [200, { user_id: third, outcome: 'created' }]);
    });
  } finally {
    await stack.close();
    await relay.close();
    await db.drop();
  }
});
