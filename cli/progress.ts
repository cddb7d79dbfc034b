/**
 * The reconcile progress bar (cli-progress) on stderr, for terminals only: users walked of those
 * the pass found to repair when it began.
 * @module
 */
import cliProgress from 'cli-progress';
import process from 'node:process';
import type { ReconcileProgress } from '../shared/reconcile-types.ts';
import { count } from './output.ts';

const STEPS = 1000;

export type ProgressBar = { update(p: ReconcileProgress): void; stop(): void };

/** The bar's own numbers, in words: walked so far and of how many (never fewer than walked). */
export function progressPayload(p: ReconcileProgress): { walked: string; of: string } {
  // users who sign up while the pass runs are repaired too, so `scanned` may pass `total`
  return { walked: count(p.scanned), of: count(Math.max(p.total, p.scanned)) };
}

/**
 * Starts the bar on `stream` (stderr). Its tokens are named `walked` and `of`: cli-progress fills
 * `{total}` and `{value}` itself with the bar's steps, whatever the payload says.
 */
export function startProgressBar(stream: NodeJS.WritableStream = process.stderr, forceOutput = false): ProgressBar {
  const bar = new cliProgress.SingleBar({
    format: 'reconcile |{bar}| {percentage}% | {walked} of {of} users to repair | {duration_formatted}',
    hideCursor: !forceOutput,
    clearOnComplete: false,
    stream,
    noTTYOutput: forceOutput,
  }, cliProgress.Presets.shades_classic);
  bar.start(STEPS, 0, { walked: '0', of: '…' });
  return {
    update: (p) => bar.update(Math.round(p.fraction * STEPS), progressPayload(p)),
    stop: () => bar.stop(),
  };
}
