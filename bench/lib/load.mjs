// Load generation: an HTTP client on keep-alive connections, a fixed-concurrency driver that
// records each call's latency, and the statistics the report uses (rate, p50, p99).
import http from 'node:http';

/** A keep-alive HTTP client with up to `sockets` connections. */
export function httpClient(sockets = 64) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const request = (url, { method = 'GET', headers = {}, body } = {}) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.end(body);
      else req.end();
    });
  return { request, close: () => agent.destroy() };
}

/** One request on a fresh connection (no keep-alive): what the cold-start probe needs. */
export function requestOnce(url, options = {}) {
  const client = httpClient(1);
  return client.request(url, { ...options, headers: { ...options.headers, connection: 'close' } })
    .finally(() => client.close());
}

/**
 * Runs `count` calls of `call(i)` with `concurrency` in flight. A call resolves when done and
 * throws on failure; the first failure stops the run. Returns per-call latencies in ms.
 */
export async function drive(count, concurrency, call) {
  const latencies = new Array(count);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = performance.now();
      await call(i);
      latencies[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return summarize(latencies, seconds);
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

export function median(values) {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function summarize(latencies, seconds) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    seconds,
    rate: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}
