/**
 * The order in which unverified bodies are admitted at the byte rate (shared/body-admission.ts):
 * a small body passes large ones that came shortly before it (a real delivery in a flood at the
 * size cap), yet a large body yields to later, smaller ones for at most yieldMs: a stream of
 * small bodies that alone exceeds the rate does not starve it (smallest-first did).
 */
import assert from 'node:assert/strict';
import { createBodyAdmission } from '../../shared/body-admission.ts';

const KIB = 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test('body admission: a large body is not starved by a stream of smaller ones', async () => {
  const admission = createBodyAdmission({ bytesPerSecond: 100 * KIB, maxBytes: 100 * KIB, yieldMs: 500 });
  await admission.admit(100 * KIB); // the burst is spent
  const started = performance.now();
  let largeAt = Infinity;
  const large = admission.admit(100 * KIB).then(() => (largeAt = performance.now() - started));
  // 1 KiB every 5 ms: 200 KiB/s of small bodies against a rate of 100 KiB/s, for 3 s
  const small: Promise<void>[] = [];
  while (performance.now() - started < 3000 && largeAt === Infinity) {
    small.push(admission.admit(KIB));
    await sleep(5);
  }
  assert.ok(largeAt < 2500, `the large body waited ${Math.round(largeAt)} ms behind smaller ones`);
  await large;
  await Promise.all(small);
});

Deno.test('body admission: a small body passes large ones queued shortly before it', async () => {
  const admission = createBodyAdmission({ bytesPerSecond: 100 * KIB, maxBytes: 100 * KIB, yieldMs: 4000 });
  await admission.admit(100 * KIB);
  const order: string[] = [];
  const large = [1, 2, 3].map((i) => admission.admit(100 * KIB).then(() => order.push(`large ${i}`)));
  await sleep(50);
  const small = admission.admit(2 * KIB).then(() => order.push('small'));
  await Promise.all([...large, small]);
  assert.deepEqual(order, ['small', 'large 1', 'large 2', 'large 3']);
});

Deno.test('body admission: a waiter whose request is aborted leaves the queue', async () => {
  const admission = createBodyAdmission({ bytesPerSecond: 100 * KIB, maxBytes: 100 * KIB });
  await admission.admit(100 * KIB);
  const gone = new AbortController();
  const waiting = admission.admit(100 * KIB, gone.signal);
  assert.equal(admission.waiting(), 1);
  gone.abort();
  await assert.rejects(waiting, (err: { code?: string }) => err.code === 'request_aborted');
  assert.equal(admission.waiting(), 0);
});
