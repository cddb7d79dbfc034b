/**
 * The SQL PostgREST (v12) issues for a supabase-js table call, run as that request would run:
 * in a transaction with `set local role` and the JWT claims GUC (tests/helpers/rls.ts), so an
 * app's own client writes are exercised against the real grants, policies and triggers.
 * @module
 */
import type postgres from 'postgres';

type Row = Record<string, unknown>;
const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * `supabase.from(table).upsert(body)` (Prefer: resolution=merge-duplicates, on_conflict = the
 * primary key): `insert … select from json_to_record(body) on conflict (key) do update set` every
 * column the body holds, as PostgREST writes it. `types` gives each body column's SQL type.
 */
export function upsert(tx: postgres.TransactionSql, table: string, body: Row, types: Record<string, string>, onConflict = 'id') {
  const columns = Object.keys(body).sort();
  const list = columns.map(ident).join(', ');
  const [schema, name] = table.split('.');
  return tx.unsafe(`
    WITH pgrst_source AS (
      INSERT INTO ${ident(schema)}.${ident(name)}(${list})
      SELECT ${columns.map((c) => `"pgrst_body".${ident(c)}`).join(', ')}
      FROM (SELECT $1::json AS json_data) pgrst_payload,
      LATERAL (SELECT ${list} FROM json_to_record(pgrst_payload.json_data) AS _(${columns.map((c) => `${ident(c)} ${types[c]}`).join(', ')})) pgrst_body
      ON CONFLICT(${ident(onConflict)}) DO UPDATE SET ${columns.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')}
      RETURNING 1)
    SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, array[]::text[] AS header, ''::text AS body
    FROM (SELECT * FROM pgrst_source) _postgrest_t`, [body as never]);
}

/** `supabase.from(table).update(body).eq(key, value)`. */
export function update(tx: postgres.TransactionSql, table: string, body: Row, types: Record<string, string>, key: string, value: string) {
  const columns = Object.keys(body).sort();
  const [schema, name] = table.split('.');
  return tx.unsafe(`
    WITH pgrst_source AS (
      UPDATE ${ident(schema)}.${ident(name)} SET ${columns.map((c) => `${ident(c)} = "pgrst_body".${ident(c)}`).join(', ')}
      FROM (SELECT $1::json AS json_data) pgrst_payload,
      LATERAL (SELECT ${columns.map(ident).join(', ')} FROM json_to_record(pgrst_payload.json_data) AS _(${columns.map((c) => `${ident(c)} ${types[c]}`).join(', ')})) pgrst_body
      WHERE ${ident(schema)}.${ident(name)}.${ident(key)} = $2::uuid
      RETURNING 1)
    SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total FROM (SELECT * FROM pgrst_source) _postgrest_t`,
    [body as never, value]);
}
