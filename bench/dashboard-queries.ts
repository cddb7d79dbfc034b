/**
 * Helper bench/scenarios/dashboard.mjs runs with Deno: reads {dbUrl, rounds} as JSON on stdin and
 * prints, per query the dashboard's panels run, the median execution time EXPLAIN (ANALYZE) reports
 * (ms) and its plan's total cost: every page query with the page's own parameters, the queue's counts.
 * @module
 */
import postgres from 'postgres';
import { PAGE_PARAMS, PAGE_QUERIES } from '../cli/dashboard/queries.ts';
import type { QueryName } from '../cli/dashboard/queries.ts';

type Input = { dbUrl: string; rounds?: number };
type Plan = { 'Execution Time': number; Plan: { 'Total Cost': number } };

const input = JSON.parse(await new Response(Deno.stdin.readable).text()) as Input;
const sql = postgres(input.dbUrl, { max: 1, prepare: false, onnotice: () => {} });
const queries: [string, string, unknown[]][] = [
  ...(Object.keys(PAGE_QUERIES) as QueryName[]).map((name): [string, string, unknown[]] => [name, PAGE_QUERIES[name], PAGE_PARAMS[name]]),
  // what /api/deliveries shows besides the hours: the queue's counts, as status reports them
  ['deliveryStatus', 'select * from profile_sync.delivery_status()', []],
];
const out: Record<string, { ms: number; cost: number }> = {};
try {
  for (const [name, text, params] of queries) {
    const times: number[] = [];
    let cost = 0;
    for (let i = 0; i < (input.rounds ?? 5); i++) {
      const [row] = await sql.unsafe(`explain (analyze, format json) ${text}`, params as never[]);
      const [plan] = row['QUERY PLAN'] as Plan[];
      times.push(plan['Execution Time']);
      cost = plan.Plan['Total Cost'];
    }
    times.sort((a, b) => a - b);
    out[name] = { ms: times[Math.floor(times.length / 2)], cost };
  }
} finally {
  await sql.end({ timeout: 1 });
}
console.log(JSON.stringify(out));
