/**
 * Reconcile's bounds, defined once: the HTTP body schema and the CLI's flags both validate with
 * the zod schemas here, so the numbers cannot drift apart.
 * @module
 */
import { z } from 'zod';

export const RECONCILE_LIMITS = {
  // 2,000 a batch: a fifth faster than 1,000 per user synced (docs/benchmarks.md), while a batch
  // still holds its per-user locks for only tens of milliseconds.
  batchSize: { default: 2000, min: 1, max: 10_000 },
  /** Pages being synced at once, on the function's pool (besides the session that holds the lock). */
  parallel: 2,
  /**
   * Pages handed out and not yet recorded: twice the connections, so a connection that finishes
   * a page starts the next at once (it waits in the pool) instead of idling while the lock holder
   * records one page and fetches another.
   */
  pagesInFlight: 4,
  /**
   * Over HTTP the budget stays below the Edge Functions wall clock (150 s on the free plan, 400 s
   * on paid ones), with 10 s left to record the last pages and answer. The CLI runs unbounded.
   */
  timeBudgetMs: { default: 60_000, min: 1, max: 140_000 },
  samplesPerClass: 20,
} as const;

const { batchSize, timeBudgetMs } = RECONCILE_LIMITS;

/** A batch size: a whole number within RECONCILE_LIMITS.batchSize. */
export const BatchSize = z.number().int().min(batchSize.min).max(batchSize.max);

/** A time budget over HTTP: a whole number of ms within RECONCILE_LIMITS.timeBudgetMs. */
export const HttpTimeBudgetMs = z.number().int().min(timeBudgetMs.min).max(timeBudgetMs.max);
