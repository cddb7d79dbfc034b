/**
 * A slow sender over a raw socket: the head of a POST with headers of its choosing and a declared
 * Content-Length, then only some of the body, then nothing; it records when and what the server
 * answered (or that it closed the connection).
 * @module
 */
import { bogusHeaders } from './flood.ts';

/** Forged webhook headers: well-formed, fresh, signed with nothing. */
export const forgedWebhookHeaders = bogusHeaders;

export type SlowSender = {
  /** The status line's code (0 when the connection closed with no answer) and when it came. */
  answer: Promise<{ status: number; ms: number }>;
  close(): void;
};

export async function slowSender(
  port: number,
  path: string,
  headers: Record<string, string>,
  declared: number,
  sent: string,
): Promise<SlowSender> {
  const conn = await Deno.connect({ hostname: '127.0.0.1', port });
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    `content-length: ${declared}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  const started = performance.now();
  await conn.write(new TextEncoder().encode(head + sent));
  let closed = false;
  const answer = (async () => {
    const buf = new Uint8Array(512);
    const n = await conn.read(buf).catch(() => null);
    const ms = performance.now() - started;
    const status = n ? Number(/^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buf.subarray(0, n)))?.[1] ?? 0) : 0;
    return { status, ms };
  })();
  return {
    answer,
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}
