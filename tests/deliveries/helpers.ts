/**
 * Helpers of the delivery queue tests: the queue's rows, making every row due now (instead of
 * waiting out a backoff), and a table constraint that refuses chosen users.
 * @module
 */
import type { Sql } from '../../shared/db.ts';

export type QueueRow = {
  user_id: string;
  attempts: number;
  due_at: Date;
  claimed_at: Date | null;
  dead_at: Date | null;
  error_code: string | null;
  last_error: string | null;
  constraint_name: string | null;
};

export const queueRows = async (sql: Sql): Promise<QueueRow[]> => [
  ...await sql<QueueRow[]>`select user_id, attempts, due_at, claimed_at, dead_at, error_code, last_error, constraint_name
    from profile_sync.deliveries order by user_id`,
];

/** Every waiting row due now (a test does not wait out the backoff). */
export const allDueNow = (sql: Sql) => sql`update profile_sync.deliveries set due_at = now() where dead_at is null`;

/** public.profiles refuses a full_name starting with "Refused" (constraint profiles_not_refused). */
export const refuseNames = (sql: Sql) =>
  sql`alter table public.profiles add constraint profiles_not_refused check (full_name not like 'Refused%')`;
