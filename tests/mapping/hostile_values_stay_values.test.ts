/**
 * Hostile strings in every field of a mapping (constants, defaults, the table's name, its columns'
 * names, the key and soft-delete columns) stay values and names: apply_mapping, with
 * check_function_bodies on and off, creates no object the mapping does not call for, neutralises
 * no unrelated trigger on auth.users (one that only reads the table), replaces exactly the pasted
 * trigger that writes it, and a synced row holds each constant and default exactly as written.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type postgres from 'postgres';
import { coreDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;
const bytes = (s: string) => new TextEncoder().encode(s).length;
/** The longest prefix of s (whole code points) of at most max bytes. */
const cut = (s: string, max: number) => {
  let out = '';
  for (const ch of s) {
    if (bytes(out + ch) > max) break;
    out += ch;
  }
  return out;
};

const ATTACKS = [
  "'", "''", '"', '""', '$$', '$body$', '$tpl$', '$function$', '$mapping$',
  '$body$; create table public.pwned_c as select current_user as who; select $body$',
  "'; create table public.pwned_d (x int); --",
  '\n', '\r\n', '\ncreate table public.pwned_e (x int);\n', '-- ', '/*', '*/', '/* x */',
  'x|', '.*', '(', ')', '[', ']', '^', '|', '\\', '\\d+', '?', '+', '{{table}}', '{{key}}', '%s', '%I', '%L',
  'new:x', 'auth:x', ':', 'deleted_at', 'in_auth', '\t', '\u0001', '\u001b[2J', '\u007f', '\u202e', '\u200b', 'é', '👩🏽‍💻',
];
const pieceChars = fc.constantFrom(...ATTACKS, 'a', 'b', 'Z', ' ', '_', '0');
/** A hostile string without NUL (jsonb and identifiers cannot hold it). */
const hostile = fc.array(pieceChars, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(''));

type Case = { table: string; key: string | null; constant: string; fallback: string; names: [string, string, string] };

const caseArb: fc.Arbitrary<Case> = fc.record({
  table: hostile.map((s) => cut(s.replaceAll('.', ''), 40)).filter((s) => s.length > 0),
  key: fc.option(hostile.map((s) => cut(s, 45) + 'k'), { nil: null }),
  constant: hostile,
  fallback: hostile,
  names: fc.tuple(hostile, hostile, hostile).map(([a, b, c]) => [cut(a, 45) + '1', cut(b, 45) + '2', cut(c, 45) + '3'] as [string, string, string]),
});

const EXAMPLES: [Case][] = [
  [{ table: 'x|', key: null, constant: '$body$; create table public.pwned_c as select current_user as who; select $body$', fallback: '$$', names: ['value1', 'nick2', 'gone3'] }],
  [{ table: 'pro\nfiles', key: 'user\nid', constant: '\ncreate table public.pwned_e (x int);\n', fallback: "'); --", names: ['a\n1', 'b/*2', 'c--3'] }],
  [{ table: '^(x|y)*$', key: null, constant: '{{table}}', fallback: '{{key}}', names: ['deleted_at', 'auth:deleted_at', 'in_auth'] }],
];

async function snapshot(tx: postgres.TransactionSql) {
  const [row] = await tx`
    select
      (select jsonb_agg(n.nspname || '.' || c.relname order by n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'v', 'm', 'p', 'f', 'S') and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')) as relations,
      (select jsonb_object_agg(p.oid::regprocedure::text, p.prosrc) from pg_proc p
        where p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'profile_sync'::regnamespace)) as functions,
      (select jsonb_agg(t.tgname order by t.tgname) from pg_trigger t where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal) as triggers`;
  return row as { relations: string[]; functions: Record<string, string>; triggers: string[] };
}

class Rollback extends Error {}

async function applyHostile(sql: postgres.Sql, c: Case, checkBodies: boolean) {
  const [value, nick, gone] = c.names;
  const key = c.key ?? 'id';
  const table = `public.${quoteIdent(c.table)}`;
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(`set local check_function_bodies = ${checkBodies ? 'on' : 'off'}`);
      await tx.unsafe(`create table ${table} (
        ${quoteIdent(key)} uuid primary key references auth.users (id) on delete cascade,
        ${quoteIdent(value)} text, ${quoteIdent(nick)} text, ${quoteIdent(gone)} timestamptz)`);
      await tx.unsafe(`alter table ${table} owner to postgres`);
      // the pasted trigger (writes the table) and an unrelated one (only reads it)
      await tx.unsafe(`create function public.handle_new_user_paste() returns trigger language plpgsql security definer
        set search_path = '' as ${quoteLiteral(`begin insert into ${table} (${quoteIdent(key)}) values (new.id); return new; end`)}`);
      // pasted in the SQL editor: the project's owner owns the function
      await tx.unsafe(`alter function public.handle_new_user_paste() owner to postgres`);
      await tx.unsafe(`create trigger on_auth_user_created_paste after insert on auth.users
        for each row execute function public.handle_new_user_paste()`);
      await tx.unsafe(`create function public.block_disposable_email() returns trigger language plpgsql security definer
        set search_path = '' as ${quoteLiteral(`begin perform 1 from ${table} limit 1; if new.email like '%@mailinator.com' then raise exception 'disposable'; end if; return new; end`)}`);
      await tx.unsafe(`alter function public.block_disposable_email() owner to postgres`);
      await tx.unsafe(`create trigger block_disposable before insert on auth.users
        for each row execute function public.block_disposable_email()`);
      const before = await snapshot(tx);

      const mapping = {
        table,
        key,
        columns: {
          [value]: { value: c.constant },
          [nick]: { from: 'user_metadata.nickname', owner: 'app', default: c.fallback },
        },
        soft_delete: { at: gone },
        user_editable: [nick],
      };
      await tx`set local role postgres`;
      await tx`select profile_sync.apply_mapping(${tx.json(mapping)})`;
      await tx`select profile_sync.compiled_sql()`;
      await tx`reset role`;

      const after = await snapshot(tx);
      assert.deepEqual(after.relations, before.relations, 'no relation created or dropped');
      assert.equal(after.functions['block_disposable_email()'], before.functions['block_disposable_email()'], 'the unrelated trigger function is untouched');
      for (const [name, src] of Object.entries(before.functions)) {
        if (name !== 'handle_new_user_paste()') assert.equal(after.functions[name], src, `${name} untouched`);
      }
      assert.deepEqual(Object.keys(after.functions).sort(), Object.keys(before.functions).sort(), 'no function created outside profile_sync');
      assert.ok(after.triggers.includes('block_disposable'), 'the unrelated trigger stays');
      const [{ replaced }] = await tx`select replaced_triggers as replaced from profile_sync.settings`;
      assert.equal(replaced.length, 1, `exactly the pasted trigger is replaced: ${JSON.stringify(replaced)}`);
      assert.match(replaced[0], /^on_auth_user_created_paste → public\.handle_new_user_paste\(\) \(/);

      // the values arrive as written
      const id = await insertAuthUser(tx, {});
      const [{ outcome }] = await tx`select outcome from profile_sync.sync_isolated(${[id]}::uuid[], 'test')`;
      assert.equal(outcome, 'created');
      const [row] = await tx.unsafe(`select to_jsonb(t) as r from ${table} t where ${quoteIdent(key)} = $1`, [id]);
      assert.equal(row.r[value], c.constant);
      assert.equal(row.r[nick], c.fallback);
      assert.equal(row.r[gone], null);
      throw new Rollback();
    });
  } catch (e) {
    if (!(e instanceof Rollback)) throw e;
  }
}

Deno.test('hostile mapping values and names stay values and names (check_function_bodies on and off)', async () => {
  const db = await coreDatabase('hostile_mapping');
  try {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await applyHostile(db.sql, c, true);
        await applyHostile(db.sql, c, false);
      }),
      { numRuns: 12, examples: EXAMPLES },
    );
    const [{ pwned }] = await db.sql`select count(*)::int as pwned from pg_class where relname like 'pwned%'`;
    assert.equal(pwned, 0);
  } finally {
    await db.drop();
  }
});
