/**
 * The page's "state now": `status`'s own exact numbers, which read every auth user (about a second
 * at a million users), so the page never waits on them for its first paint or its other panels.
 * One measurement at a time, shared by concurrent callers (the now panel and doctor); the last one
 * is kept so a page shows it at once, with its time, while a fresh one runs.
 * @module
 */
import type { Sql } from '../../shared/db.ts';
import { createStatusReader } from '../../shared/reconcile-status.ts';
import type { TimedStatus } from '../../shared/reconcile-status.ts';

/** A status and when it was measured (`computed_at`, `age_ms`), and how long it took (`took_ms`). */
export type Measurement = TimedStatus & { took_ms: number };

export type Measurer = {
  /** The last finished measurement, aged to now; null before the first one ends. */
  latest(): Measurement | null;
  /**
   * Measures now (or joins the measurement running), exactly as `profile-sync status`; with
   * `since` (epoch ms), the last measurement instead when it ended after then (doctor's drift
   * check takes the one the now panel asked for alongside it).
   */
  measure(since?: number): Promise<Measurement>;
};

export function createMeasurer(sql: Sql): Measurer {
  const read = createStatusReader(sql);
  let last: Measurement | undefined;
  let lastEnded = 0;
  const latest = () => (last ? { ...last, age_ms: Date.now() - Date.parse(last.computed_at) } : null);
  return {
    latest,
    async measure(since) {
      if (since !== undefined && last && lastEnded >= since) return latest()!;
      const status = await read();
      // a caller gets it as the computation ends: its age is how long it took
      const measured = { ...status, took_ms: status.age_ms };
      if (!last || last.computed_at <= measured.computed_at) {
        last = measured;
        lastEnded = Date.now();
      }
      return measured;
    },
  };
}
