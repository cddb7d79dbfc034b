/**
 * The reconcile progress bar (cli-progress) on stderr, for terminals only: drifted ids walked of
 * those queued when the run began.
 * @module
 */
import cliProgress from 'cli-progress';
import type { ReconcileProgress } from '../shared/reconcile-types.ts';
import { count } from './output.ts';

const STEPS = 1000;

export type ProgressBar = { update(p: ReconcileProgress): void; stop(): void };

export function startProgressBar(): ProgressBar {
  const bar = new cliProgress.SingleBar({
    format: 'reconcile |{bar}| {percentage}% | {walked} of {total} drifted ids | {duration_formatted}',
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(STEPS, 0, { walked: '0', total: '…' });
  return {
    update: (p) => bar.update(Math.round(p.fraction * STEPS), { walked: count(p.scanned), total: count(p.total) }),
    stop: () => bar.stop(),
  };
}
