/**
 * A webhook sender for load and fault tests: takes what the trigger queued in the pg_net stand-in
 * (net.http_request_queue) and delivers it with a fixed number of concurrent requests, recording
 * every answer. Unlike the stack's relay it never writes back to the database, so the database
 * load is the functions' own. Nothing is retried, as with pg_net.
 * @module
 */
import type { Sql } from '../../shared/db.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';

export type Delivery = { url: string; headers: Record<string, string>; body: string };
export type Answer = { status: number; code?: string; retryAfter: string | null; ms: number; at: number };

/**
 * Signed single-record Database Webhook payloads, one per user id, to `url` (what a team's own
 * Database Webhook sends; auth-webhook takes each as a wake-up for its user).
 */
export function singleRecordDeliveries(url: string, ids: readonly string[], type: 'INSERT' | 'UPDATE' = 'INSERT'): Delivery[] {
  return ids.map((id) => {
    const body = JSON.stringify(minimalEvent(type, id));
    return { url, headers: signHeaders(body), body };
  });
}

/** Removes up to `limit` queued requests, oldest first. */
export async function takeQueued(sql: Sql, limit: number): Promise<Delivery[]> {
  const rows = await sql<{ url: string; headers: Record<string, string>; body: Uint8Array }[]>`
    delete from net.http_request_queue
    where id in (select id from net.http_request_queue order by id limit ${limit} for update skip locked)
    returning id, url, headers, body`;
  return rows.map((r) => ({ url: r.url, headers: r.headers, body: new TextDecoder().decode(r.body) }));
}

/** POSTs one delivery; a network failure, or no answer within pg_net's 5 s, is recorded as status 0. */
export async function deliver(d: Delivery): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(d.url, {
      method: 'POST',
      headers: d.headers,
      body: d.body,
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    let code: string | undefined;
    try {
      code = JSON.parse(text)?.error?.code;
    } catch { /* not JSON: recorded by status alone */ }
    return {
      status: res.status,
      code,
      retryAfter: res.headers.get('retry-after'),
      ms: performance.now() - started,
      at: Date.now(),
    };
  } catch {
    return { status: 0, retryAfter: null, ms: performance.now() - started, at: Date.now() };
  }
}

/**
 * Delivers `total` deliveries with `concurrency` requests in flight, pulling them from `source`
 * (e.g. the queue, filled by the trigger while this runs) until `total` have been answered.
 */
export async function sendAll(
  source: (limit: number) => Promise<Delivery[]>,
  total: number,
  concurrency: number,
  options: { timeoutMs?: number } = {},
): Promise<Answer[]> {
  const answers: Answer[] = [];
  const buffer: Delivery[] = [];
  let taken = 0;
  let refill: Promise<void> | undefined;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const next = async (): Promise<Delivery | undefined> => {
    while (buffer.length === 0) {
      if (taken >= total) return undefined;
      if (Date.now() > deadline) throw new Error(`only ${taken} of ${total} deliveries were queued in time`);
      refill ??= source(Math.min(500, total - taken)).then((batch) => {
        taken += batch.length;
        buffer.push(...batch);
        refill = undefined;
      });
      await refill;
      if (buffer.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    return buffer.shift();
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let d = await next(); d; d = await next()) answers.push(await deliver(d));
  }));
  return answers;
}

/** p50/p95/p99/max of the answers' latencies, in ms. */
export function latency(answers: readonly Answer[]) {
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round(ms.at(-1) ?? 0) };
}
