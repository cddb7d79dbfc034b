/**
 * The live check of a mapping is SQL's own: profile_sync.apply_mapping, run on the database in a
 * transaction that is always rolled back (the core installed inside it first, from this package's
 * migrations, when the database has none). What it refuses, `supabase db push` would refuse, in
 * the same words; what it replaces on auth.users is read back before the rollback.
 * @module
 */
import type postgres from 'postgres';
import type { Db } from './database.ts';
import { InstallError } from './project.ts';
import { coreMigrations } from './sources.ts';

export type ReplacedTrigger = { trigger: string; fn: string; roleFromMetadata: boolean };

export type LiveCheck = {
  /** The pasted triggers on auth.users the mapping migration takes out of the signup. */
  replaced: ReplacedTrigger[];
  /** The core was not installed there: it was installed inside the rolled-back transaction. */
  coreInstalled: boolean;
  /** The table does not exist yet: apply_mapping creates it (the default public.profiles). */
  createsTable: boolean;
};

/** The mapping apply_mapping refused, with SQL's message (which names the field). */
export class MappingRefused extends Error {
  override name = 'MappingRefused';
  constructor(readonly sqlMessage: string, readonly sqlState: string | undefined) {
    super(sqlMessage);
  }
}

const ROLLBACK = Symbol('rollback');

type Trigger = { trigger: string; fn: string; src: string };

async function authUserTriggers(tx: postgres.TransactionSql): Promise<Trigger[]> {
  return await tx<Trigger[]>`
    select t.tgname::text as trigger, p.oid::regprocedure::text as fn, p.prosrc as src
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
      and p.pronamespace <> coalesce(pg_catalog.to_regnamespace('profile_sync'), 0)
    order by 1`;
}

/**
 * Runs apply_mapping(doc) and rolls everything back. Throws MappingRefused when SQL refuses the
 * mapping (or cannot compile it), InstallError when the transaction cannot run at all.
 */
export async function applyMappingRolledBack(db: Db, doc: unknown): Promise<LiveCheck> {
  let result: LiveCheck | undefined;
  try {
    await db.begin(async (tx) => {
      // a table lock held by the app must not make init hang, nor init make signups wait long
      await tx`set local lock_timeout = '5s'`;
      const [{ installed, exists }] = await tx`
        select pg_catalog.to_regprocedure('profile_sync.apply_mapping(jsonb)') is not null as installed,
          pg_catalog.to_regclass(${String((doc as { table?: unknown })?.table ?? 'public.profiles')}) is not null as exists`;
      if (!installed) {
        for (const m of coreMigrations()) await tx.unsafe(m.content);
      }
      const before = await authUserTriggers(tx);
      try {
        await tx`select profile_sync.apply_mapping(${tx.json(doc as never)})`;
      } catch (err) {
        const e = err as { message?: string; code?: string };
        throw new MappingRefused(String(e.message ?? err), e.code);
      }
      const after = new Map((await authUserTriggers(tx)).map((t) => [t.trigger, t]));
      const replaced = before.filter((t) => after.get(t.trigger)?.src !== t.src).map((t) => ({
        trigger: t.trigger,
        fn: t.fn,
        roleFromMetadata: /raw_user_meta_data\s*->>?\s*'role'/i.test(t.src),
      }));
      result = { replaced, coreInstalled: !installed, createsTable: !exists };
      throw ROLLBACK;
    });
  } catch (err) {
    if (err === ROLLBACK && result) return result;
    if (err instanceof MappingRefused) throw err;
    const e = err as { message?: string; code?: string };
    throw new InstallError(
      `could not check the mapping on the database (${e.message ?? err}${e.code ? `, SQLSTATE ${e.code}` : ''}): ` +
        'the check runs apply_mapping in a transaction that is rolled back, as the database owner',
      'live_check_failed',
    );
  }
  throw new Error('unreachable');
}

/** Migration versions the database has applied (supabase_migrations.schema_migrations); empty without a history. */
export async function appliedVersions(db: Db): Promise<Set<string>> {
  const [{ present }] = await db`select pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null as present`;
  if (!present) return new Set();
  const rows = await db<{ version: string }[]>`select version from supabase_migrations.schema_migrations`;
  return new Set(rows.map((r) => r.version));
}
