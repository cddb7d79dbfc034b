/**
 * Calls to a running stack's reconcile with the dev admin key, and the loop an operator (or
 * pg_cron) runs: call again while the report says `complete: false`.
 * @module
 */
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import type { ReconcileReport } from '../../shared/reconcile-types.ts';

export type { ReconcileReport };
export type ReconcileAnswer = {
  status: number;
  code?: string;
  retryAfter: string | null;
  report?: ReconcileReport;
};

export async function callReconcile(
  stackUrl: string,
  body: Record<string, unknown> = {},
): Promise<ReconcileAnswer> {
  const res = await fetch(`${stackUrl}/functions/v1/reconcile`, {
    // A hang is a failure, not a stuck test run.
    signal: AbortSignal.timeout(60_000),
    method: 'POST',
    headers: { apikey: DEV_SECRET_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  return {
    status: res.status,
    code: json.error?.code,
    retryAfter: res.headers.get('retry-after'),
    report: res.ok ? json : undefined,
  };
}

/**
 * Calls reconcile until a report is complete, as a scheduler does: a 503 (retryable, with
 * Retry-After) is called again after a pause, at most 5 times in a row; any other answer but 200
 * throws, as does not completing in `maxCalls`.
 */
export async function reconcileToCompletion(
  stackUrl: string,
  body: Record<string, unknown> = {},
  maxCalls = 50,
): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  let unavailable = 0;
  for (let i = 0; i < maxCalls; i++) {
    const answer = await callReconcile(stackUrl, body);
    if (answer.status === 503 && Number(answer.retryAfter) > 0 && ++unavailable <= 5) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    unavailable = 0;
    if (!answer.report) throw new Error(`reconcile answered ${answer.status} ${answer.code ?? ''}`);
    reports.push(answer.report);
    if (answer.report.complete) return reports;
  }
  throw new Error(`reconcile did not complete in ${maxCalls} calls`);
}
