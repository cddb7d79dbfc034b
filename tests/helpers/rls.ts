/**
 * Run SQL as PostgREST would for a request: `set local role` plus the JWT claims GUC, inside a
 * transaction that is rolled back, so RLS is exercised from each side without leaving traces.
 * @module
 */
import type { Sql } from '../../shared/db.ts';
import type postgres from 'postgres';

export type As = { role: 'anon' } | { role: 'authenticated'; sub: string } | { role: 'service_role' };

const ROLLBACK = Symbol('rollback');

export async function asRole<T>(sql: Sql, who: As, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let result: T | undefined;
  try {
    await sql.begin(async (tx) => {
      const claims = who.role === 'authenticated' ? { sub: who.sub, role: who.role, aud: 'authenticated' } : { role: who.role };
      await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
      await tx.unsafe(`set local role ${who.role}`);
      result = await work(tx);
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
  }
  return result as T;
}
