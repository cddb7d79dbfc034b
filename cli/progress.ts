/**
 * The reconcile progress bar (cli-progress) on stderr, for terminals only. Progress is the
 * cursor's place in the key space: ids are uniform uuids walked in key order.
 * @module
 */
import cliProgress from 'cli-progress';
import type { ReconcileProgress } from '../shared/reconcile.ts';
import { count } from './output.ts';

const STEPS = 1000;

export type ProgressBar = { update(p: ReconcileProgress): void; stop(): void };

export function startProgressBar(): ProgressBar {
  const bar = new cliProgress.SingleBar({
    format: 'reconcile |{bar}| {percentage}% | {walked} ids walked | {duration_formatted}',
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(STEPS, 0, { walked: '0' });
  return {
    update: (p) => bar.update(Math.round(p.fraction * STEPS), { walked: count(p.scanned) }),
    stop: () => bar.stop(),
  };
}
