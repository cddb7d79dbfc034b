// Slow senders, sustained: auth-webhook in its own process (its real entry point, as deployed)
// faces 256 connections that send forged (well-formed) headers, declare bodies from 10 bytes to
// the 256 KiB cap, send one byte and stall, and reconnect as soon as they are answered, for 8 s.
// Meanwhile, once the first wave is connected, a real signed delivery every 400 ms: each is
// answered 200 within 2 s (pg_net gives up after 5 s; typically 20-200 ms, up to ~1 s on a busy
// 2-core machine), and every slow sender is answered 408 within its read deadline. Before
// deadlines existed, 32 such connections held every read buffer and a delivery waited forever.
import assert from 'node:assert/strict';
import { devEnv } from '../../local/dev-keys.ts';
import { readDeadlineMs } from '../../shared/body-admission.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startFunctionProcess } from '../helpers/function_process.ts';
import { forgedWebhookHeaders, slowSender } from '../helpers/slow_sender.ts';
import { insertAuthUser } from '../helpers/users.ts';

const CONNECTIONS = 256;
const ATTACK_MS = 8_000;
const SIZES = [10, 1024, 3 * 1024, 64 * 1024, 256 * 1024];

Deno.test(`slow senders, sustained: ${CONNECTIONS} stalling connections for ${ATTACK_MS / 1000} s; every real delivery < 2 s`, async () => {
  const db = await freshDatabase('stress_slow_senders');
  const fn = await startFunctionProcess('auth-webhook', devEnv(db.url, 'http://127.0.0.1:9'));
  const { port } = new URL(fn.url);
  try {
    const userId = await insertAuthUser(db.sql);
    const real = JSON.stringify(minimalEvent('UPDATE', userId));
    const warm = await fetch(fn.url, { method: 'POST', body: real, headers: signHeaders(real) });
    assert.equal((await warm.body?.cancel(), warm.status), 200);

    const stopAt = Date.now() + ATTACK_MS;
    const late: string[] = [];
    const statuses: Record<string, number> = {};
    const attack = Promise.all(Array.from({ length: CONNECTIONS }, async (_, i) => {
      while (Date.now() < stopAt) {
        const declared = SIZES[i % SIZES.length];
        const s = await slowSender(Number(port), '/auth-webhook', forgedWebhookHeaders(), declared, '{');
        const { status, ms } = await s.answer;
        s.close();
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (ms > readDeadlineMs(declared) + 2000) late.push(`${declared} B answered after ${Math.round(ms)} ms`);
      }
    }));
    const realMs: number[] = [];
    await new Promise((r) => setTimeout(r, 1000));
    while (Date.now() < stopAt) {
      const started = performance.now();
      const res = await fetch(fn.url, { method: 'POST', body: real, headers: signHeaders(real), signal: AbortSignal.timeout(10_000) });
      await res.body?.cancel();
      assert.equal(res.status, 200);
      realMs.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 400));
    }
    await attack;
    const figures = {
      connections: CONNECTIONS,
      slow_answered: statuses,
      real_deliveries: realMs.length,
      real_max_ms: Math.round(Math.max(...realMs)),
      real_ms: realMs.map(Math.round),
      peak_rss_mib: Math.round(fn.memory().peakMiB),
    };
    console.log(`slow senders: ${JSON.stringify(figures)}`);
    assert.ok(realMs.length >= 10, 'the real deliveries ran');
    assert.ok(Math.max(...realMs) < 2000, `a real delivery took ${figures.real_max_ms} ms`);
    assert.deepEqual(Object.keys(statuses), ['408'], JSON.stringify(statuses));
    assert.deepEqual(late, []);
  } finally {
    await fn.stop();
    await db.drop();
  }
});
