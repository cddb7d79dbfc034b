/**
 * `profile-sync init` and `profile-sync generate`: install profile-sync into the Supabase project
 * in the current folder, and keep it up to date after a mapping edit or an upgrade. Exit 0 done
 * (init also when the mapping still needs a source: it says which), 1 when the user declined at
 * the prompt, 2 on bad input with nothing written.
 * @module
 */
import { parseArgs } from 'node:util';
import { checkMappingAgainstTable, proposeMapping } from '../mapping-table.ts';
import { DEFAULT_MAPPING_DOCUMENT, MappingError, normaliseMapping, parseMapping } from '../mapping.ts';
import type { Mapping } from '../mapping.ts';
import { candidateTables, connect, describeTable, pastedTriggers } from './database.ts';
import type { Db } from './database.ts';
import { applyPlan, describeChanges, planInstall } from './plan.ts';
import type { Plan } from './plan.ts';
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

const NEXT_STEPS = `next steps:
  1. review ${MAPPING_FILE} and the new migrations (after editing the mapping: \`npx profile-sync generate\`)
  2. npx supabase db push
  3. secrets, Vault secrets and \`npx supabase functions deploy\`: the Deploy checklist in profile-sync's README
  4. npx profile-sync doctor, then \`npx profile-sync reconcile --dry-run\` and \`npx profile-sync reconcile\``;

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
  throw new InstallError(`${origin} has errors:\n  ${result.errors.join('\n  ')}\nfix them, then run this again`);
}

/**
 * A mapping of public.profiles before the table exists must fit the table apply_mapping creates:
 * where the core is installed already, its own check says (SQLSTATE 22023 naming the field).
 */
async function checkDefaultTable(db: Db, doc: unknown, origin: string): Promise<void> {
  const [{ installed }] = await db`select to_regprocedure('profile_sync.normalise_mapping(jsonb)') is not null as installed`;
  if (!installed) return;
  await db`select profile_sync.normalise_mapping(${db.json(doc as never)})`.catch((err) => {
    if (err?.code !== '22023') throw err;
    throw new InstallError(`${origin} does not fit the public.profiles the mapping migration creates:\n  ${err.message}`);
  });
}

/**
 * With a database: the mapping must fit its table (public.profiles may be missing: the migration
 * creates it), with its defaults filled as apply_mapping fills them for that table.
 */
async function checkLive(db: Db, doc: unknown, mapping: Mapping, origin: string, flag: string): Promise<string[]> {
  const info = await describeTable(db, mapping.table);
  if (!info) {
    if (mapping.table === 'public.profiles') {
      await checkDefaultTable(db, doc, origin);
      return [`public.profiles does not exist at ${flag} yet: the mapping migration creates it`];
    }
    throw new InstallError(`${origin}: table ${mapping.table} does not exist at ${flag}: create it first (or fix "table")`);
  }
  let errors: string[];
  try {
    errors = checkMappingAgainstTable(normaliseMapping(doc, info.columns.map((c) => c.name)), info);
  } catch (err) {
    if (!(err instanceof MappingError)) throw err;
    errors = err.errors;
  }
  if (errors.length > 0) {
    throw new InstallError(`${origin} does not fit ${mapping.table} at ${flag}:\n  ${errors.join('\n  ')}\nfix the mapping, then run this again`);
  }
  const triggers = await pastedTriggers(db, mapping.table);
  return triggers.flatMap((t) => [
    `the mapping migration replaces the trigger ${t.trigger} on auth.users (${t.fn}), which writes ${mapping.table}`,
    ...(t.roleFromMetadata
      ? [`${t.fn} copies the role from user metadata (anyone could sign up as any role): profile-sync never does; ` +
        `list the roles a user may pick at signup in "roles": {"self_assignable": […]}`]
      : []),
  ]);
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
  lines.push(`proposed a mapping for ${target} (key ${proposal.key.column}: ${proposal.key.reason})`, ...proposal.notes);
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
    if (mapping && db) lines.push(...await checkLive(db, doc, mapping, MAPPING_FILE, '--db-url'));
    const plan = planInstall(project, { force: args.force, mapping: mapping && doc, oneMigration: false, mappingFile });
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
    throw new InstallError(`${MAPPING_FILE} has errors:\n  ${result.errors.join('\n  ')}\nfix them, then run \`npx profile-sync generate\` again`);
  }
  const [dbUrl, flag] = flagUrl !== undefined
    ? [flagUrl, '--db-url']
    : [io.env.SUPABASE_DB_URL, 'SUPABASE_DB_URL'];
  const db = dbUrl ? await connect(dbUrl, flag) : undefined;
  try {
    const lines = db ? await checkLive(db, doc, result.mapping, MAPPING_FILE, flag) : [];
    if (db) lines.unshift(`${MAPPING_FILE} fits ${result.mapping.table} at ${flag}`);
    const plan = planInstall(project, { force: false, mapping: doc, oneMigration: true });
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
