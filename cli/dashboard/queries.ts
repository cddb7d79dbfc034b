/**
 * What the dashboard reads besides `status` and `doctor`: the mapping in force, the runs of the
 * last days (charts, table), failures by constraint, and the durable-delivery queue when it is
 * installed. Each page query is SQL text with $n parameters, so tests can EXPLAIN exactly what runs.
 * @module
 */
import type { Sql } from '../../shared/db.ts';
import { num } from '../../shared/reconcile-types.ts';
import type { RunCounts } from '../../shared/reconcile-types.ts';

/** The page's queries, by name; each is served by an index at a million users and a year of runs. */
export const PAGE_QUERIES = {
  /**
   * Real runs since $1 days ago, oldest first, as one JSON array of rows [epoch s, missing, stale,
   * orphaned, created, updated, deleted, failed, duration ms] (a few thousand rows: one value to
   * parse instead of a few thousand rows of timestamps). date_part, not extract: floats, not
   * numerics (half the time at 4,000 runs).
   */
  history: `
    select coalesce(json_agg(json_build_array(
        date_part('epoch', r.started_at)::bigint, r.missing, r.stale, r.orphaned, r.created, r.updated, r.deleted, r.failed,
        (date_part('epoch', coalesce(r.finished_at, r.heartbeat_at) - r.started_at) * 1000)::bigint)
      order by r.started_at), '[]') as runs
    from profile_sync.runs r
    where not r.dry_run and r.started_at >= now() - make_interval(days => $1::integer)`,
  /** The $2 real runs before id $1 (null: the latest), newest first: the runs table. */
  runs: `
    select r.id, r.started_at, r.finished_at,
      case when r.status = 'running' and profile_sync.reconcile_lock_holder() is null then 'abandoned'
        else r.status end as status,
      r.resumed_from, r.queued, r.scanned, r.missing, r.stale, r.orphaned, r.created, r.updated, r.deleted, r.failed,
      round(extract(epoch from coalesce(r.finished_at, r.heartbeat_at) - r.started_at) * 1000)::bigint as duration_ms,
      r.error
    from profile_sync.runs r
    where not r.dry_run and r.id < coalesce($1::bigint, 9223372036854775807)
    order by r.id desc
    limit $2::integer`,
  /** Failures by constraint (and SQLSTATE): how many users, since when, the first few user ids. */
  failures: `
    select g.constraint_name, g.error_code, g.users, g.since, g.last_seen,
      array(
        select f.user_id from profile_sync.failures f
        where coalesce(f.constraint_name, '') = g.constraint_key and f.error_code = g.error_code
        order by f.first_seen, f.user_id
        limit $1::integer
      ) as user_ids
    from (
      select coalesce(f.constraint_name, '') as constraint_key, nullif(coalesce(f.constraint_name, ''), '') as constraint_name,
        f.error_code, count(*) as users, min(f.first_seen) as since, max(f.last_seen) as last_seen
      from profile_sync.failures f
      group by 1, 2, f.error_code
    ) g
    order by g.users desc, g.constraint_key, g.error_code
    limit 50`,
  /** The mapping in force and how long history is kept. */
  mapping: `
    select s.mapping, s.target_table, s.target_key, s.default_role, s.self_assignable_roles,
      s.replaced_triggers, s.history_days, s.applied_at
    from profile_sync.settings s`,
  /** Delivered / retried / dead per hour since $1 hours ago (durable delivery's own function). */
  deliveryHours: `
    select h.hour, h.delivered, h.retried, h.dead
    from profile_sync.delivery_history(now() - make_interval(hours => $1::integer)) h
    order by h.hour`,
} as const;

export type QueryName = keyof typeof PAGE_QUERIES;

/** Days of runs the charts show, hours of deliveries, runs a table page holds. */
export const WINDOW = { chartDays: 30, deliveryHours: 7 * 24, runsPage: 50 } as const;
/** Failing user ids the page shows per constraint. */
const IDS_PER_GROUP = 5;

/** The parameters the page runs each query with (its first page of runs): what tests and the bench EXPLAIN. */
export const PAGE_PARAMS: Record<QueryName, unknown[]> = {
  history: [WINDOW.chartDays],
  runs: [null, WINDOW.runsPage],
  failures: [IDS_PER_GROUP],
  mapping: [],
  deliveryHours: [WINDOW.deliveryHours],
};

const query = <T>(sql: Sql, name: QueryName, params: unknown[]) =>
  sql.unsafe(PAGE_QUERIES[name], params as never[]) as unknown as Promise<T[]>;

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

export type RunPoint = RunCounts & { id: number; started_at: string; status: string; duration_ms: number };

const COUNTS = ['missing', 'stale', 'orphaned', 'created', 'updated', 'deleted', 'failed'] as const satisfies (keyof RunCounts)[];

function runRow(r: Record<string, unknown>): RunPoint {
  return {
    id: num(r.id),
    started_at: iso(r.started_at)!,
    status: String(r.status),
    ...Object.fromEntries(COUNTS.map((k) => [k, num(r[k])])) as RunCounts,
    duration_ms: num(r.duration_ms),
  };
}

/** The chart's series, one array per column, oldest run first (`t`: seconds since the epoch). */
export const HISTORY_SERIES = ['t', 'missing', 'stale', 'orphaned', 'created', 'updated', 'deleted', 'failed', 'duration_ms'] as const;
export type History = Record<(typeof HISTORY_SERIES)[number], number[]>;

export async function history(sql: Sql, days: number): Promise<History> {
  const [{ runs }] = await query<{ runs: number[][] }>(sql, 'history', [days]);
  return Object.fromEntries(HISTORY_SERIES.map((k, i) => [k, runs.map((r) => r[i])])) as History;
}

export type RunRow = RunPoint & {
  finished_at: string | null;
  resumed_from: number | null;
  queued: number;
  scanned: number;
  error: string | null;
};

export async function runs(sql: Sql, before: number | null, limit: number): Promise<RunRow[]> {
  const rows = await query<Record<string, unknown>>(sql, 'runs', [before, limit]);
  return rows.map((r) => ({
    ...runRow(r),
    finished_at: iso(r.finished_at),
    resumed_from: r.resumed_from === null ? null : num(r.resumed_from),
    queued: num(r.queued),
    scanned: num(r.scanned),
    error: (r.error as string | null) ?? null,
  }));
}

export type FailureGroup = {
  constraint_name: string | null;
  error_code: string;
  users: number;
  since: string;
  last_seen: string;
  user_ids: string[];
};

export async function failureGroups(sql: Sql, idsPerGroup = IDS_PER_GROUP): Promise<FailureGroup[]> {
  const rows = await query<Record<string, unknown>>(sql, 'failures', [idsPerGroup]);
  return rows.map((r) => ({
    constraint_name: (r.constraint_name as string | null) ?? null,
    error_code: String(r.error_code),
    users: num(r.users),
    since: iso(r.since)!,
    last_seen: iso(r.last_seen)!,
    user_ids: r.user_ids as string[],
  }));
}

export type MappingInForce = {
  table: string;
  key: string;
  columns: { column: string; from: string; owner: string }[];
  soft_delete: Record<string, unknown> | null;
  user_editable: string[];
  roles: { default: string; self_assignable: string[] };
  replaced_triggers: string[];
  history_days: number;
  applied_at: string;
};

type ColumnRule = { from?: string; value?: unknown; owner?: string; default?: unknown };

/** The mapping in force as the page shows it (sources and owners; constants by kind, not value). */
export async function mappingInForce(sql: Sql): Promise<MappingInForce | null> {
  const [row] = await query<Record<string, unknown>>(sql, 'mapping', []);
  if (!row) return null;
  const m = row.mapping as { columns?: Record<string, ColumnRule>; soft_delete?: Record<string, unknown> | null; user_editable?: string[] };
  return {
    table: String(row.target_table),
    key: String(row.target_key),
    columns: Object.entries(m.columns ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([column, rule]) => ({
      column,
      from: rule.from ?? (rule.value !== undefined ? 'constant' : '?'),
      owner: rule.owner ?? 'auth',
    })),
    soft_delete: m.soft_delete ?? null,
    user_editable: m.user_editable ?? [],
    roles: { default: String(row.default_role), self_assignable: (row.self_assignable_roles as string[]) ?? [] },
    replaced_triggers: (row.replaced_triggers as string[]) ?? [],
    history_days: num(row.history_days),
    applied_at: iso(row.applied_at)!,
  };
}

export type DeliveryHour = { hour: string; delivered: number; retried: number; dead: number };

/** Whether durable delivery (its queue table and history function) is in this database. */
export async function deliveryInstalled(sql: Sql): Promise<boolean> {
  const [row] = await sql`
    select to_regclass('profile_sync.deliveries') is not null
      and to_regprocedure('profile_sync.delivery_history(timestamptz)') is not null as installed`;
  return Boolean(row.installed);
}

export async function deliveryHours(sql: Sql, hours: number): Promise<DeliveryHour[]> {
  const rows = await query<Record<string, unknown>>(sql, 'deliveryHours', [hours]);
  return rows.map((r) => ({ hour: iso(r.hour)!, delivered: num(r.delivered), retried: num(r.retried), dead: num(r.dead) }));
}
