/**
 * The delivery queue from the edge (profile_sync.deliveries, supabase/schemas/45_deliveries.sql):
 * a drainer that claims due rows and settles them in batches (one call of the core each), the
 * queue's status, listing, replay and hourly history. Used by auth-webhook, the local stack's
 * drain timer, the CLI and the dashboard.
 * @module
 */
import type { Sql } from './db.ts';
import { withDb } from './db.ts';
import type { Logger } from './log.ts';
import type { Outcome, SyncResult } from './sync.ts';
import { num } from './reconcile-types.ts';

/** Users a drain claims per batch: one call of the core each (a reconcile page is of this order). */
export const DRAIN_BATCH = 500;

export type DrainReport = { batches: number; delivered: number; failed: number };
export type DeliveryStatus = { queued: number; oldest_due_age_s: number; retrying: number; dead: number };

/** 42883 undefined_function, 42P01 undefined_table: a database not migrated to the queue yet. */
export const isQueueMissing = (err: unknown) => ['42883', '42P01'].includes(String((err as { code?: unknown })?.code));

/** Claims up to maxRows due rows (userIds first, queued if absent) for this caller; their ids. */
export async function claimDeliveries(sql: Sql, maxRows: number, userIds: readonly string[] = []): Promise<string[]> {
  const rows = await withDb(() =>
    sql<{ user_id: string }[]>`select user_id from profile_sync.claim_deliveries(${maxRows}, ${[...userIds]}::uuid[])`,
    // a claim lost with its connection only leases its rows: they are due again in 2 minutes
    { idempotent: true });
  return rows.map((r) => r.user_id);
}

/** Syncs claimed users in one call of the core and settles their rows (removed, retried or dead). */
export async function settleDeliveries(sql: Sql, ids: readonly string[], source: string): Promise<SyncResult[]> {
  if (ids.length === 0) return [];
  const rows = await withDb(() =>
    sql<SyncResult[]>`select user_id, outcome from profile_sync.settle_deliveries(${[...ids]}::uuid[], ${source})`,
    { idempotent: true });
  return rows.map((r) => ({ user_id: r.user_id, outcome: r.outcome as Outcome }));
}

/**
 * A wake-up for these users (a single-record payload's): queued if absent and made due, claimed
 * unless a drain holds them, then synced and settled, in two transactions as every drain does
 * (one claim held open through the sync would make Auth's writes of these users wait for it, and
 * deadlock with a delete: profile_sync.claim_deliveries). Returns the results of the users it
 * claimed.
 */
export async function deliverUsers(sql: Sql, ids: readonly string[], source: string): Promise<SyncResult[]> {
  return await settleDeliveries(sql, await claimDeliveries(sql, 0, ids), source);
}

/**
 * Single-record deliveries that arrive together go to the database together: at most `slots`
 * calls run at once (the pool's size); the users of requests arriving while they run wait and go
 * in the next call, up to DRAIN_BATCH: one claim and one settle for all of them instead of one
 * each. A lone request goes at once. `deliver` is deliverUsers over the function's pool.
 * Each caller gets its own user's result (undefined when a drain held the user), or the call's
 * error.
 */
export function createDeliveryBatcher(
  deliver: (ids: readonly string[]) => Promise<SyncResult[]>,
  slots: number,
) {
  type Waiter = { id: string; resolve: (r: SyncResult | undefined) => void; reject: (err: unknown) => void };
  let running = 0;
  const waiting: Waiter[] = [];
  const flush = () => {
    while (running < Math.max(1, slots) && waiting.length > 0) {
      const batch = waiting.splice(0, DRAIN_BATCH);
      running++;
      deliver([...new Set(batch.map((w) => w.id))])
        .then((results) => {
          const byId = new Map(results.map((r) => [r.user_id, r]));
          for (const w of batch) w.resolve(byId.get(w.id));
        }, (err) => {
          for (const w of batch) w.reject(err);
        })
        .finally(() => {
          running--;
          flush();
        });
    }
  };
  return {
    deliver(id: string): Promise<SyncResult | undefined> {
      return new Promise((resolve, reject) => {
        waiting.push({ id, resolve, reject });
        flush();
      });
    },
  };
}

/**
 * A drainer: drain() claims and settles batches until nothing is due. One drain at a time per
 * process: a call while one runs makes it look again once more and shares its answer (a burst of
 * wake-ups is one drain loop; concurrent processes take different rows: skip locked).
 */
export function createDrainer(
  sql: Sql,
  log: Logger,
  options: { batch?: number; source?: string; maxBatches?: number; timeBudgetMs?: number } = {},
) {
  const batch = options.batch ?? DRAIN_BATCH;
  const source = options.source ?? 'auth-webhook';
  const maxBatches = options.maxBatches ?? 200;
  // Within pg_net's 5 s timeout; what is left is the next wake-up's or the pg_cron drain's.
  const timeBudgetMs = options.timeBudgetMs ?? 4000;
  let running: Promise<DrainReport> | undefined;
  let again = false;

  const loop = async (): Promise<DrainReport> => {
    const report: DrainReport = { batches: 0, delivered: 0, failed: 0 };
    const deadline = Date.now() + timeBudgetMs;
    const more = () => report.batches < maxBatches && Date.now() < deadline;
    do {
      again = false;
      while (more()) {
        const ids = await claimDeliveries(sql, batch);
        if (ids.length === 0) break;
        const results = await settleDeliveries(sql, ids, source);
        report.batches++;
        const failed = results.filter((r) => r.outcome === 'failed').length;
        report.failed += failed;
        report.delivered += results.length - failed;
        if (failed > 0) log.warn('deliveries failed, retried later', { failed, batch: ids.length });
      }
    } while (again && more());
    return report;
  };

  return {
    drain(): Promise<DrainReport> {
      if (running) {
        again = true;
        return running;
      }
      running = loop().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

export type Drainer = ReturnType<typeof createDrainer>;
export type DeliveryBatcher = ReturnType<typeof createDeliveryBatcher>;

/** The queue at a glance; null on a database not migrated to the queue yet. */
export async function deliveryStatus(sql: Sql): Promise<DeliveryStatus | null> {
  try {
    const [row] = await withDb(() =>
      sql`select queued, oldest_due_age_s, retrying, dead from profile_sync.delivery_status()`
    );
    return {
      queued: num(row.queued),
      oldest_due_age_s: num(row.oldest_due_age_s),
      retrying: num(row.retrying),
      dead: num(row.dead),
    };
  } catch (err) {
    if (isQueueMissing(err)) return null;
    throw err;
  }
}

export type DeliveryRow = {
  user_id: string;
  queued_at: string;
  due_at: string;
  claimed: boolean;
  attempts: number;
  error_code: string | null;
  last_error: string | null;
  constraint_name: string | null;
  dead_at: string | null;
};

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v));

/** The waiting rows in due order, or the dead letters newest first (user ids, never personal data). */
export async function listDeliveries(sql: Sql, options: { dead?: boolean; limit?: number } = {}): Promise<DeliveryRow[]> {
  const rows = await withDb(() =>
    sql`select * from profile_sync.delivery_list(${options.dead ?? false}, ${options.limit ?? 100})`
  );
  return rows.map((r) => ({
    user_id: String(r.user_id),
    queued_at: iso(r.queued_at)!,
    due_at: iso(r.due_at)!,
    claimed: Boolean(r.claimed),
    attempts: num(r.attempts),
    error_code: (r.error_code as string | null) ?? null,
    last_error: (r.last_error as string | null) ?? null,
    constraint_name: (r.constraint_name as string | null) ?? null,
    dead_at: iso(r.dead_at),
  }));
}

export type ReplayRequest = { userIds?: readonly string[]; dead?: boolean; since?: Date };

/** Queues users again, due now: ids, every dead letter, and/or auth users changed since; how many. */
export async function replayDeliveries(sql: Sql, request: ReplayRequest): Promise<number> {
  const [row] = await withDb(() =>
    sql`select profile_sync.replay_deliveries(${[...(request.userIds ?? [])]}::uuid[], ${request.dead ?? false},
      ${request.since?.toISOString() ?? null}::timestamptz) as n`
  );
  return num(row.n);
}

export type DeliveryHour = { hour: string; delivered: number; retried: number; dead: number };

/** Hourly delivered / retried / dead counts from since on (hours without activity are absent). */
export async function deliveryHistory(sql: Sql, since: Date): Promise<DeliveryHour[]> {
  const rows = await withDb(() => sql`select * from profile_sync.delivery_history(${since.toISOString()}::timestamptz)`);
  return rows.map((r) => ({ hour: iso(r.hour)!, delivered: num(r.delivered), retried: num(r.retried), dead: num(r.dead) }));
}
