/**
 * When bodies read before their sender is authenticated may be read (auth-webhook reads a body
 * to check its signature), and for how long. A byte rate (a token bucket, charged the declared
 * length) bounds how fast they are read: the runtime allocates per chunk read, and a flood read at
 * full speed outruns the garbage collector. Nothing is held while a body arrives: a sender that
 * stalls holds its connection and the bytes it sent, until its read deadline (READ_DEADLINE,
 * sized to its declared length) answers it 408. Waiters are admitted in a fair order (below).
 * @module
 */
import { AppError } from './errors.ts';

/**
 * A body must arrive within baseMs plus its declared length at minBytesPerSecond: 2.1 s for a
 * 3 KiB delivery, 6 s for one at the 256 KiB cap. pg_net sends a body in one write; a sender
 * slower than this is holding a connection, not delivering.
 */
export const READ_DEADLINE = { baseMs: 2000, minBytesPerSecond: 64 * 1024 };

export function readDeadlineMs(declaredBytes: number): number {
  return READ_DEADLINE.baseMs + Math.ceil((declaredBytes * 1000) / READ_DEADLINE.minBytesPerSecond);
}

export type BodyAdmission = {
  /**
   * Waits for `bytes` of rate (the Content-Length if any, else the cap). A request whose signal
   * aborts while it waits leaves the queue (AppError request_aborted).
   */
  admit(bytes: number, signal?: AbortSignal): Promise<void>;
  /** Requests waiting now (for tests and logs). */
  waiting(): number;
};

type Waiter = { key: number; bytes: number; admit: () => void };

/**
 * The order: a waiter's turn is its arrival time plus `yieldMs` scaled by its share of the
 * largest body (maxBytes). A real delivery (a few KiB) passes a flood at the size cap, yet no
 * body yields to later, smaller ones for more than yieldMs: smallest-first without the starvation.
 */
export function createBodyAdmission(
  options: { bytesPerSecond: number; maxBytes: number; yieldMs?: number },
): BodyAdmission {
  const { bytesPerSecond, maxBytes } = options;
  const yieldMs = options.yieldMs ?? 4000;
  const burst = Math.max(maxBytes, bytesPerSecond / 4);
  let tokens = burst;
  let refilledAt = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const queue: Waiter[] = []; // by key

  const refill = () => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * bytesPerSecond);
    refilledAt = now;
  };

  /** Admits waiters in order while the rate allows; else tries again when it will. */
  const pump = () => {
    refill();
    while (queue.length > 0 && queue[0].bytes <= tokens) {
      const next = queue.shift()!;
      tokens -= next.bytes;
      next.admit();
    }
    if (queue.length > 0 && !timer) {
      const ms = Math.ceil(((queue[0].bytes - tokens) / bytesPerSecond) * 1000);
      timer = setTimeout(() => (timer = undefined, pump()), Math.max(ms, 1));
    }
  };

  const insert = (w: Waiter) => {
    let lo = 0, hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue[mid].key <= w.key) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, w);
  };

  return {
    admit(requested, signal) {
      const bytes = Math.min(Math.max(requested, 1), maxBytes);
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(new AppError('request_aborted', { cause: signal.reason }));
        const onAbort = () => {
          const at = queue.indexOf(w);
          if (at >= 0) queue.splice(at, 1);
          pump(); // the next in line may fit now
          reject(new AppError('request_aborted', { cause: signal?.reason }));
        };
        const w: Waiter = {
          key: performance.now() + (yieldMs * bytes) / maxBytes,
          bytes,
          admit: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        insert(w);
        pump();
      });
    },
    waiting: () => queue.length,
  };
}
