/**
 * The dashboard's actions (dry run, reconcile now, replay dead letters) as jobs: one at a time,
 * each the CLI command's own function, with its progress and result kept for the page to poll.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { CommandContext, CommandResult } from '../commands.ts';
import { reconcileCommand } from '../commands.ts';
import { replayCommand } from '../deliveries.ts';
import { isAppError } from '../../shared/errors.ts';
import type { ReconcileProgress } from '../../shared/reconcile-types.ts';

export type ActionKind = 'dry-run' | 'reconcile' | 'replay';

export type Job = {
  id: string;
  kind: ActionKind;
  state: 'running' | 'done' | 'failed';
  started_at: string;
  finished_at: string | null;
  progress: ReconcileProgress | null;
  /** The CLI's --json result. */
  result: unknown;
  exit_code: number | null;
  error: { code: string; message: string } | null;
};

type Run = (ctx: CommandContext, onProgress: (p: ReconcileProgress) => void) => Promise<CommandResult>;



export class ActionBusy extends Error {
  constructor(readonly running: Job) {
    super(`${running.kind} is running`);
  }
}

const KEPT = 20;

export function createActions(ctx: CommandContext) {
  const jobs = new Map<string, Job>();
  let current: Job | undefined;
  const runners: Record<ActionKind, Run | undefined> = {
    'dry-run': (c) => reconcileCommand(c, { dryRun: true }),
    reconcile: (c, onProgress) => reconcileCommand(c, { dryRun: false, onProgress }),
    // `profile-sync replay --dead`'s own function
    replay: (c) => replayCommand(c, { userIds: [], dead: true }),
  };
  return {
    available: (kind: ActionKind) => runners[kind] !== undefined,
    get: (id: string) => jobs.get(id),
    current: () => current,
    /** Starts a job; ActionBusy while another runs. Never rejects: the outcome lands in the job. */
    start(kind: ActionKind): Job {
      const run = runners[kind];
      if (!run) throw new Error(`${kind} is not available`);
      if (current) throw new ActionBusy(current);
      const job: Job = {
        id: randomUUID(), kind, state: 'running', started_at: new Date().toISOString(), finished_at: null,
        progress: null, result: null, exit_code: null, error: null,
      };
      jobs.set(job.id, job);
      for (const old of [...jobs.keys()].slice(0, Math.max(jobs.size - KEPT, 0))) jobs.delete(old);
      current = job;
      run(ctx, (p) => (job.progress = p)).then(
        (r) => Object.assign(job, { state: 'done', result: r.json, exit_code: r.exitCode }),
        (err) => Object.assign(job, { state: 'failed', error: describe(err) }),
      ).finally(() => {
        job.finished_at = new Date().toISOString();
        current = undefined;
      });
      return job;
    },
  };
}

export type Actions = ReturnType<typeof createActions>;

function describe(err: unknown): { code: string; message: string } {
  if (isAppError(err) && err.code === 'reconcile_in_progress') {
    return { code: err.code, message: 'another reconcile is running; try again when it has finished' };
  }
  if (isAppError(err)) return { code: err.code, message: err.message };
  return { code: 'error', message: err instanceof Error ? err.message : String(err) };
}
