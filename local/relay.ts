/**
 * The pg_net relay of the local stack: sends what the pg_net stand-in queued in
 * net.http_request_queue (woken by NOTIFY at commit, with a poll as a fallback) and records each
 * answer in net._http_response, as pg_net's worker does. No retries, like pg_net.
 * @module
 */
import type { Sql } from '../shared/db.ts';
import type { Logger } from '../shared/log.ts';

type Queued = { id: string; method: string; url: string; headers: Record<string, string>; body: Uint8Array | null; timeout_milliseconds: number };

export type Relay = { drain(): Promise<number>; close(): Promise<void> };

export async function startRelay(sql: Sql, log: Logger, options: { pollMs?: number; batch?: number } = {}): Promise<Relay> {
  const batch = options.batch ?? 200;
  let running: Promise<number> | undefined;
  let again = false;
  let closed = false;

  const send = async (req: Queued) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), req.timeout_milliseconds);
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body ? new Uint8Array(req.body) : undefined,
        signal: controller.signal,
      });
      const content = await res.text();
      await sql`
        insert into net._http_response (id, status_code, content_type, headers, content, timed_out)
        values (${req.id}, ${res.status}, ${res.headers.get('content-type')},
                ${sql.json(Object.fromEntries(res.headers))}, ${content}, false)`;
    } catch (err) {
      const timedOut = controller.signal.aborted;
      await sql`
        insert into net._http_response (id, timed_out, error_msg)
        values (${req.id}, ${timedOut}, ${timedOut ? 'Timeout was reached' : String((err as Error).message)})`
        .catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  };

  const drainOnce = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const rows = await sql<Queued[]>`
        delete from net.http_request_queue
        where id in (select id from net.http_request_queue order by id limit ${batch} for update skip locked)
        returning id, method, url, headers, body, timeout_milliseconds`;
      if (rows.length === 0) return total;
      total += rows.length;
      await Promise.all(rows.map(send));
    }
  };

  const drain = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let n = 0;
      do {
        again = false;
        n += await drainOnce().catch((err) => {
          log.warn('relay: drain failed', { err });
          return 0;
        });
      } while (again && !closed);
      running = undefined;
      return n;
    })();
    return running;
  };

  const listener = await sql.listen('pg_net_request', () => void drain()).catch((err) => {
    log.warn('relay: LISTEN failed, polling only', { err });
    return undefined;
  });
  const poll = setInterval(() => void drain(), options.pollMs ?? 1000);
  void drain();

  return {
    drain,
    async close() {
      closed = true;
      clearInterval(poll);
      await listener?.unlisten().catch(() => {});
      await running;
    },
  };
}
