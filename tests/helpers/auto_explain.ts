/**
 * A connection that logs the plan of every statement it runs, nested ones (inside functions)
 * included, through auto_explain, and hands each to `onPlan` as it arrives.
 * @module
 */
import postgres from 'postgres';
import { adminDatabaseUrl } from './db.ts';

export type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Total Cost': number; Plans?: PlanNode[] };
export type Explained = { query: string; plan: PlanNode };

/** One superuser connection to database `name` with auto_explain on for every statement. */
export async function explainingConnection(name: string, onPlan: (explained: Explained) => void) {
  const sql = postgres(adminDatabaseUrl(name), {
    max: 1,
    onnotice: (n) => {
      const text = String(n.message);
      const at = text.indexOf('{');
      if (!text.startsWith('duration:') || at < 0) return;
      const explained = JSON.parse(text.slice(at));
      onPlan({ query: String(explained['Query Text'] ?? ''), plan: explained.Plan });
    },
  });
  await sql`load 'auto_explain'`;
  await sql`set auto_explain.log_min_duration = 0`;
  await sql`set auto_explain.log_nested_statements = on`;
  await sql`set auto_explain.log_format = json`;
  await sql`set auto_explain.log_level = notice`;
  await sql`set client_min_messages = notice`;
  return sql;
}
