/**
 * The CLI's delivery queue commands: `deliveries [--dead]` lists what waits, retries or died;
 * `replay <user-id…> | --dead | --since <ISO time>` queues users again, due now.
 * @module
 */
import { listDeliveries, replayDeliveries } from '../shared/deliveries.ts';
import type { DeliveryRow } from '../shared/deliveries.ts';
import { isUuid } from '../shared/uuid.ts';
import { EXIT, UsageError } from './commands.ts';
import type { CommandContext, CommandResult } from './commands.ts';
import { count, table } from './output.ts';

/** Rows shown (the queue can hold a bulk import); `status` gives the totals. */
const LIST_LIMIT = 100;

function rowText(r: DeliveryRow): string[] {
  const error = r.error_code ? `${r.error_code}${r.constraint_name ? ` (${r.constraint_name})` : ''}: ${r.last_error ?? ''}` : '';
  const when = r.dead_at ? `dead ${r.dead_at}` : r.claimed ? 'being delivered' : `due ${r.due_at}`;
  return [r.user_id, when, `${r.attempts} attempts`, error.length > 80 ? `${error.slice(0, 79)}…` : error];
}

/** Lists the queue (or the dead letters); exit 1 when dead letters exist. */
export async function deliveriesCommand(ctx: CommandContext, dead: boolean): Promise<CommandResult> {
  const rows = await listDeliveries(ctx.sql, { dead, limit: LIST_LIMIT });
  const [{ n_dead }] = await ctx.sql`select count(*)::int as n_dead from profile_sync.deliveries where dead_at is not null`;
  const what = dead ? 'dead letters' : 'queued deliveries';
  const hint = n_dead > 0
    ? `\n${count(n_dead)} dead letters: fix the cause (see the error), then \`profile-sync replay --dead\``
    : '';
  return {
    exitCode: n_dead > 0 ? EXIT.drift : EXIT.inSync,
    json: { dead, deliveries: rows },
    text: rows.length === 0
      ? `no ${what}${hint}`
      : `${what} (${rows.length === LIST_LIMIT ? `first ${LIST_LIMIT}` : count(rows.length)})\n${table(rows.map(rowText))}${hint}`,
  };
}

export type ReplayArgs = { userIds: string[]; dead: boolean; since?: string };

/** Queues users again: the ids given, every dead letter, and/or every auth user changed since. */
export async function replayCommand(ctx: CommandContext, args: ReplayArgs): Promise<CommandResult> {
  if (args.userIds.length === 0 && !args.dead && args.since === undefined) {
    throw new UsageError('replay needs user ids, --dead or --since <ISO time>: profile-sync replay <user-id…> | --dead | --since 2026-12-01T00:00:00Z');
  }
  const bad = args.userIds.find((id) => !isUuid(id));
  if (bad !== undefined) throw new UsageError(`"${bad}" is not a user id (a uuid such as 4f7d…-…)`);
  let since: Date | undefined;
  if (args.since !== undefined) {
    since = new Date(args.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(args.since) || Number.isNaN(since.getTime())) {
      throw new UsageError(`--since must be an ISO time such as 2026-12-01T00:00:00Z, got "${args.since}"`);
    }
  }
  const queued = await replayDeliveries(ctx.sql, { userIds: args.userIds, dead: args.dead, since });
  return {
    exitCode: EXIT.inSync,
    json: { queued },
    text: `${count(queued)} users queued for delivery (auth-webhook and the drain deliver them within seconds; \`profile-sync deliveries\` shows what waits)`,
  };
}
