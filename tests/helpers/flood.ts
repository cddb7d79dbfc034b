/**
 * `deno run -A tests/helpers/flood.ts <url> <mode> <concurrency> <ms>`: floods a webhook URL with
 * requests that pass every cheap check (fresh timestamp, a 32-byte v1 signature) but are signed
 * with nothing, from its own process so the test's timings are not the flood's. Modes: 1 MiB with
 * Content-Length (`content-length`), 1 MiB streamed without it (`streamed`), 250 KiB, under the
 * cap, so each is read and its HMAC computed (`under-cap`). Prints `{"sent","statuses"}`.
 * @module
 */

export type FloodMode = 'content-length' | 'streamed' | 'under-cap';

const MIB = 1024 * 1024;
const junk = new Uint8Array(MIB).fill(0x61);
const CHUNK = 64 * 1024;

const bodies: Record<FloodMode, () => BodyInit> = {
  'content-length': () => junk,
  'streamed': () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < MIB; i += CHUNK) controller.enqueue(junk.subarray(i, i + CHUNK));
        controller.close();
      },
    }),
  'under-cap': () => junk.subarray(0, 250 * 1024),
};

/** Headers that pass every check made before a body is read (fresh timestamp, a 32-byte v1 signature), signed with nothing. */
export function bogusHeaders(): Record<string, string> {
  const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  return {
    'content-type': 'application/json',
    'webhook-id': `msg_${crypto.randomUUID()}`,
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
    'webhook-signature': `v1,${random}`,
  };
}

export async function flood(url: string, mode: FloodMode, concurrency: number, ms: number) {
  const statuses: Record<string, number> = {};
  let sent = 0;
  const stopAt = Date.now() + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < stopAt) {
      sent++;
      const status = await fetch(url, { method: 'POST', body: bodies[mode](), headers: bogusHeaders() })
        .then(async (r) => (await r.body?.cancel(), r.status), () => 0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }));
  return { sent, statuses };
}

if (import.meta.main) {
  const [url, mode, concurrency, ms] = Deno.args;
  console.log(JSON.stringify(await flood(url, mode as FloodMode, Number(concurrency), Number(ms))));
}
