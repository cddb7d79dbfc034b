/**
 * Human output of the CLI: short aligned tables and numbers with thousands separators.
 * @module
 */
import type { ReconcileStatus, RunSummary } from '../shared/reconcile-types.ts';

export const count = (n: number) => n.toLocaleString('en-US');

/** Characters a terminal would act on (C0/C1 controls but newline and tab, DEL, bidi and zero-width). */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Text as it may reach a terminal: names read from a database or a folder can hold escape codes
 * (`\x1b]0;title\x07`, `\x1b[2J`) or bidi overrides; each is shown as its `\x..`/`\u....` escape.
 */
export const printable = (text: string): string =>
  text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });

/** Two or more columns, the first padded so the others line up. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

export function describeRun(run: RunSummary | null): string {
  if (!run) return 'never';
  const what = run.dry_run
    ? `dry run: ${count(run.missing)} missing, ${count(run.stale)} stale, ${count(run.orphaned)} orphaned`
    : `created ${count(run.created)}, updated ${count(run.updated)}, deleted ${count(run.deleted)}, failed ${count(run.failed)}`;
  return `#${run.id} ${run.status} at ${run.finished_at ?? run.started_at} (${what})`;
}

export function statusTable(s: ReconcileStatus): string {
  return table([
    ['auth users', count(s.auth_users)],
    ['profiles', count(s.profiles)],
    ['missing', count(s.missing)],
    ['stale', count(s.stale)],
    ['orphaned', count(s.orphaned)],
    ['synced', `${s.synced_percent.toFixed(2)} %`],
    ['failures', count(s.failures)],
    ['last run', describeRun(s.last_run)],
  ]);
}
