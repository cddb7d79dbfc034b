/**
 * Slow senders do not starve real deliveries: 64 connections send forged (well-formed) headers,
 * declare a 10-byte body and send one byte of it. A real signed delivery sent while they hang is
 * answered 200 at once, and each slow sender gets 408 request_timeout within its read deadline
 * (sized to its declared length), whatever the front door in front of it would allow. Served by
 * the local stack over real sockets.
 */
import assert from 'node:assert/strict';
import { READ_DEADLINE } from '../../shared/body-admission.ts';
import { freshDatabase } from '../helpers/db.ts';
import { forgedWebhookHeaders, slowSender } from '../helpers/slow_sender.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, signHeaders, webhookUrl } from './helpers.ts';

const SLOW = 64;

Deno.test(`auth-webhook: ${SLOW} slow unauthenticated bodies do not delay a real delivery; each gets 408 by its deadline`, async () => {
  const db = await freshDatabase('webhook_slow_senders');
  const stack = await startTestStack(db.url);
  const slow: Awaited<ReturnType<typeof slowSender>>[] = [];
  try {
    const userId = await insertAuthUser(db.sql);
    const path = '/functions/v1/auth-webhook';
    for (let i = 0; i < SLOW; i++) slow.push(await slowSender(stack.port, path, forgedWebhookHeaders(), 10, '{'));
    // and one that declares the largest body and sends a little of it
    const large = await slowSender(stack.port, path, forgedWebhookHeaders(), 200 * 1024, '{"pad":"' + 'x'.repeat(1000));
    await new Promise((r) => setTimeout(r, 300)); // they are all being read now

    const body = JSON.stringify(minimalEvent('UPDATE', userId));
    const started = performance.now();
    const res = await fetch(webhookUrl(stack), { method: 'POST', body, headers: signHeaders(body), signal: AbortSignal.timeout(10_000) });
    const answer = await res.json();
    const realMs = performance.now() - started;
    assert.equal(res.status, 200, JSON.stringify(answer));
    assert.ok(realMs < 1000, `the real delivery took ${Math.round(realMs)} ms`);

    const small = await Promise.all(slow.map((s) => s.answer));
    const smallDeadline = READ_DEADLINE.baseMs + (10 * 1000) / READ_DEADLINE.minBytesPerSecond;
    for (const a of small) {
      assert.equal(a.status, 408);
      assert.ok(a.ms < smallDeadline + 1500, `a 10-byte slow sender was answered after ${Math.round(a.ms)} ms`);
    }
    const big = await large.answer;
    const bigDeadline = READ_DEADLINE.baseMs + (200 * 1024 * 1000) / READ_DEADLINE.minBytesPerSecond;
    assert.equal(big.status, 408);
    assert.ok(big.ms > smallDeadline, 'a larger declared body has a longer deadline');
    assert.ok(big.ms < bigDeadline + 1500, `the 200 KiB slow sender was answered after ${Math.round(big.ms)} ms`);
    slow.push(large);
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 1, 'only the real delivery synced anything');
    const lines = stack.logs.map((l) => JSON.parse(l));
    assert.equal(lines.filter((l) => l.code === 'request_timeout').length, SLOW + 1);
    assert.ok(lines.every((l) => l.level !== 'error'), 'nothing logged at error level');
  } finally {
    for (const s of slow) s.close();
    await stack.close();
    await db.drop();
  }
});
