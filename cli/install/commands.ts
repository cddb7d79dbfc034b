/**
 * `profile-sync init` and `profile-sync generate`: install profile-sync into the Supabase project
 * in the current folder, and keep it up to date after a mapping edit or an upgrade. Exit 0 done
 * (init also when the mapping still needs a source: it says which), 1 when the user declined at
 * the prompt, 2 on bad input with nothing written.
 * @module
 */
import { parseArgs } from 'node:util';
import { proposeMapping } from '../mapping-table.ts';
import { appliedDocument, DEFAULT_MAPPING_DOCUMENT, parseMapping } from '../mapping.ts';
import type { Mapping } from '../mapping.ts';
import { candidateTables, connect, describeTable } from './database.ts';
import type { Db } from './database.ts';
import { appliedVersions, applyMappingRolledBack, MappingRefused } from './live.ts';
import { applyPlan, describeChanges, planInstall } from './plan.ts';
import type { MappingState, Plan } from './plan.ts';
import { InstallError, LOCK_FILE, MAPPING_FILE, openProject } from './project.ts';
import type { Project } from './project.ts';

export type InstallIo = {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Asks a yes/no question on a terminal; absent when there is no terminal to ask (CI, scripts). */
  confirm?: (question: string) => Promise<boolean>;
};

export const INSTALL_USAGE = `  init [--db-url URL] [--table SCHEMA.TABLE] [--yes] [--dry-run] [--force]
                                          install into the Supabase project in this folder
  generate [--db-url URL]                 after editing supabase/profile-sync.json or upgrading:
                                          one new migration with what changed, functions refreshed`;

const NEXT_STEPS = `next steps, in this order (no signup goes unsynced: docs/install.md, "Deploy order"):
  1. review ${MAPPING_FILE} and the new migrations (after editing the mapping: \`npx profile-sync generate\`)
  2. \`npx supabase secrets set PROFILE_SYNC_WEBHOOK_SECRET=…\` and the Vault secrets (profile_sync_webhook_url,
     profile_sync_webhook_secret, profile_sync_reconcile_url, profile_sync_admin_key)
  3. npx supabase functions deploy auth-webhook sync-profile reconcile
  4. npx supabase db push (this replaces your pasted trigger: the functions must already run)
  5. npx profile-sync doctor --send-test, then \`npx profile-sync reconcile --dry-run\` and \`npx profile-sync reconcile\``;

type InitArgs = { dbUrl?: string; table?: string; yes: boolean; dryRun: boolean; force: boolean };

/** The command's flags; node's parse errors (code ERR_PARSE_ARGS_…) go up for main to word. */
function parseFlags<T extends Record<string, { type: 'string' | 'boolean' }>>(argv: string[], options: T) {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (positionals.length > 0) throw new InstallError(`unexpected argument: ${positionals.join(' ')}`);
  return values;
}

/** The document in supabase/profile-sync.json, parsed as JSON (not yet validated), or undefined. */
function readMappingFile(project: Project): unknown {
  const text = project.read(MAPPING_FILE);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InstallError(`${MAPPING_FILE} is not valid JSON (${(err as Error).message}): fix it, then run this again`);
  }
}

const isTodo = (error: string) => /^columns\.[^:]+: needs a source/.test(error);

/** Validates a document: the mapping, or the columns that still need a source; InstallError otherwise. */
function validate(doc: unknown, origin: string): { mapping?: Mapping; needsSource: string[] } {
  const result = parseMapping(doc);
  if (result.ok) return { mapping: result.mapping, needsSource: [] };
  if (result.errors.every(isTodo)) return { needsSource: result.errors.map((e) => e.slice('columns.'.length, e.indexOf(':'))) };
  throw new InstallError(`${origin} has errors:\n  ${result.errors.join('\n  ')}\nfix them, then run this again`, 'mapping_invalid');
}

/**
 * With a database: apply_mapping itself checks the mapping, in a transaction that is rolled back
 * (./live.ts); the lines say what was checked and which pasted triggers the migration replaces.
 */
async function checkLive(db: Db, doc: unknown, table: string, origin: string, flag: string): Promise<string[]> {
  let live;
  try {
    live = await applyMappingRolledBack(db, doc);
  } catch (err) {
    if (!(err instanceof MappingRefused)) throw err;
    throw new InstallError(
      `${origin} does not fit ${table} at ${flag} (apply_mapping, which \`supabase db push\` runs, refuses it):\n` +
        `  ${err.sqlMessage}\nfix the mapping, then run this again (no migration was written)`,
      'mapping_invalid',
    );
  }
  return [
    `${origin} checked against ${table} at ${flag} by apply_mapping itself, in a transaction that was rolled back` +
    (live.coreInstalled ? ' (with the profile-sync core installed inside it: it is not applied there yet)' : ''),
    ...(live.createsTable ? [`${table} does not exist at ${flag} yet: the mapping migration creates it`] : []),
    ...live.replaced.flatMap((t) => [
      `the mapping migration replaces the trigger ${t.trigger} on auth.users (${t.fn}), which writes ${table}`,
      ...(t.roleFromMetadata
        ? [`${t.fn} copies the role from user metadata (anyone could sign up as any role): profile-sync never does; ` +
          `list the roles a user may pick at signup in "roles": {"self_assignable": […]}`]
        : []),
    ]),
  ];
}

const OFFLINE = `${MAPPING_FILE} was checked offline only (its shape): its columns, types and constraints were not ` +
  'checked against your table; `--db-url URL` (or SUPABASE_DB_URL) checks it as `supabase db push` will';

/**
 * Whether the mapping migration profile-sync wrote last is applied on the database: `pending` is
 * rewritten in place by the next mapping change, `unknown` (no database) superseded (./plan.ts).
 */
async function mappingState(db: Db | undefined, project: Project): Promise<MappingState> {
  const file = project.lock?.mapping?.file;
  if (!file || project.read(file) === undefined) return 'none';
  if (!db) return 'unknown';
  const version = /(\d{14})_[^/]*$/.exec(file)?.[1] ?? '';
  return (await appliedVersions(db)).has(version) ? 'applied' : 'pending';
}

const needsSourceText = (columns: string[], table: string) =>
  `the mapping is not complete: ${columns.join(', ')} ${columns.length === 1 ? 'is' : 'are'} NOT NULL in ${table} ` +
  `without a default, and profile-sync has no source for ${columns.length === 1 ? 'it' : 'them'}.\n` +
  `set each in ${MAPPING_FILE} ("columns": an auth column, user_metadata.<path>, app_metadata.<path>, or {"value": …}), ` +
  'then run `npx profile-sync generate`. No mapping migration was written.';

function report(io: InstallIo, plan: Plan, verb: string) {
  const lines = describeChanges(plan.changes);
  if (lines.length > 0) io.out(`${verb}:\n${lines.join('\n')}`);
  if (plan.kept.length > 0) io.out(`left alone:\n  ${plan.kept.join('\n  ')}`);
  if (plan.notes.length > 0) io.out(`note:\n  ${plan.notes.join('\n  ')}`);
}

async function proposeFromDatabase(db: Db, table: string | undefined, lines: string[]): Promise<unknown> {
  const found = table === undefined ? await candidateTables(db) : [];
  const target = table ?? found[0];
  if (!target) {
    lines.push('no profile table found at --db-url (no unique column references auth.users): proposing public.profiles, which the mapping migration creates');
    return DEFAULT_MAPPING_DOCUMENT;
  }
  const info = await describeTable(db, target);
  if (!info) {
    const candidates = await candidateTables(db);
    throw new InstallError(
      `no table ${target} at --db-url: check --table (schema.table)` +
        (candidates.length > 0 ? `; tables that reference auth.users: ${candidates.join(', ')}` : ''),
    );
  }
  const proposal = proposeMapping(info);
  lines.push(
    `proposed a mapping for ${target} (key ${proposal.key.column}: ${proposal.key.reason}); per column:`,
    ...Object.entries(proposal.reasons).map(([column, why]) => `  ${column}: ${why}`),
    ...proposal.notes,
  );
  const suggested = Object.keys(proposal.suggestions);
  if (suggested.length > 0) {
    lines.push(`suggested, not mapped: ${suggested.join(', ')} (in "suggestions" in ${MAPPING_FILE}, with the reason; ` +
      'move one into "columns" to map it, then `npx profile-sync generate`)');
  }
  if (found.length > 1) lines.push(`also found ${found.slice(1).join(', ')}: pick another with --table (and --force once a mapping is written)`);
  return proposal.mapping;
}

/** init's command line, checked (InstallError or a node parse error), with nothing read or written. */
export function parseInitArgs(argv: string[]): InitArgs {
  const flags = parseFlags(argv, {
    'db-url': { type: 'string' },
    table: { type: 'string' },
    yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    force: { type: 'boolean' },
  });
  const args: InitArgs = {
    dbUrl: flags['db-url'] as string | undefined,
    table: flags.table as string | undefined,
    yes: Boolean(flags.yes),
    dryRun: Boolean(flags['dry-run']),
    force: Boolean(flags.force),
  };
  if (args.table !== undefined && args.dbUrl === undefined) {
    throw new InstallError('--table picks the table to propose a mapping from, so it needs --db-url');
  }
  if (args.table !== undefined && !/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/.test(args.table)) {
    throw new InstallError(`--table ${args.table}: give a table name, schema-qualified (e.g. public.user_profiles)`);
  }
  return args;
}

export async function initCommand(argv: string[], io: InstallIo): Promise<number> {
  const args = parseInitArgs(argv);
  const project = openProject(io.cwd);
  const db = args.dbUrl ? await connect(args.dbUrl, '--db-url') : undefined;
  try {
    const lines: string[] = [];
    const existing = readMappingFile(project);
    let doc = existing;
    let mappingFile: string | undefined;
    if (existing !== undefined && !args.force) {
      lines.push(`using ${MAPPING_FILE} as it is (to change the mapping, edit it and run \`npx profile-sync generate\`)`);
    } else {
      doc = db ? await proposeFromDatabase(db, args.table, lines) : DEFAULT_MAPPING_DOCUMENT;
      if (!db) lines.push('mapping: the default one (public.profiles); `--db-url` proposes one from the table you have');
      mappingFile = JSON.stringify(doc, null, 2) + '\n';
    }
    const { mapping, needsSource } = validate(doc, existing !== undefined && !args.force ? MAPPING_FILE : 'the proposed mapping');
    const origin = existing !== undefined && !args.force ? MAPPING_FILE : 'the proposed mapping';
    if (mapping && db) lines.push(...await checkLive(db, appliedDocument(doc), mapping.table, origin, '--db-url'));
    else if (mapping) lines.push(OFFLINE);
    const plan = planInstall(project, {
      force: args.force,
      mapping: mapping && appliedDocument(doc),
      oneMigration: false,
      mappingFile,
      mappingState: await mappingState(db, project),
      where: '--db-url',
    });
    const table = (doc as { table?: string }).table ?? 'public.profiles';
    const incomplete = needsSource.length > 0 ? needsSourceText(needsSource, table) : undefined;
    if (lines.length > 0) io.out(lines.join('\n'));
    const ask = !args.yes && !args.dryRun && io.confirm !== undefined;
    if (plan.changes.length === 0) {
      io.out('nothing to write: profile-sync is installed and up to date');
      report(io, plan, 'unchanged');
    } else {
      report(io, plan, args.dryRun ? 'would write (dry run: nothing written)' : ask ? 'will write' : 'wrote');
      if (ask && !(await io.confirm!('write these files?'))) {
        io.out('nothing written');
        return 1;
      }
      if (!args.dryRun) applyPlan(project, plan);
    }
    if (incomplete) io.out(incomplete);
    else if (plan.changes.length > 0 && !args.dryRun) {
      io.out(`${NEXT_STEPS}\n(${LOCK_FILE} records what profile-sync wrote: commit it with the rest)`);
    }
    return 0;
  } finally {
    await db?.end({ timeout: 1 });
  }
}

/** generate's command line, checked (InstallError or a node parse error), with nothing read or written. */
export function parseGenerateArgs(argv: string[]): { dbUrl?: string } {
  return { dbUrl: parseFlags(argv, { 'db-url': { type: 'string' } })['db-url'] as string | undefined };
}

export async function generateCommand(argv: string[], io: InstallIo): Promise<number> {
  const { dbUrl: flagUrl } = parseGenerateArgs(argv);
  const project = openProject(io.cwd);
  if (!project.lock) throw new InstallError(`profile-sync is not installed here (no ${LOCK_FILE}): run \`npx profile-sync init\` first`);
  const doc = readMappingFile(project);
  if (doc === undefined) throw new InstallError(`${MAPPING_FILE} is missing: restore it, or run \`npx profile-sync init\` to propose one`);
  const result = parseMapping(doc);
  if (!result.ok) {
    throw new InstallError(`${MAPPING_FILE} has errors:\n  ${result.errors.join('\n  ')}\nfix them, then run \`npx profile-sync generate\` again`, 'mapping_invalid');
  }
  const [dbUrl, flag] = flagUrl !== undefined
    ? [flagUrl, '--db-url']
    : [io.env.SUPABASE_DB_URL, 'SUPABASE_DB_URL'];
  const db = dbUrl ? await connect(dbUrl, flag) : undefined;
  try {
    const lines = db ? await checkLive(db, appliedDocument(doc), result.mapping.table, MAPPING_FILE, flag) : [OFFLINE];
    const plan = planInstall(project, {
      force: false,
      mapping: appliedDocument(doc),
      oneMigration: true,
      mappingState: await mappingState(db, project),
      where: flag,
    });
    if (lines.length > 0) io.out(lines.join('\n'));
    if (plan.changes.length === 0) {
      io.out('nothing changed: the mapping, the migrations and the functions are up to date; nothing written');
      report(io, plan, 'unchanged');
      return 0;
    }
    applyPlan(project, plan);
    report(io, plan, 'wrote');
    io.out('next: review the new migration, then `npx supabase db push` and `npx supabase functions deploy`');
    return 0;
  } finally {
    await db?.end({ timeout: 1 });
  }
}
