/**
 * The changes init and generate make, computed in full before anything is written (bad input
 * writes nothing): function files refreshed unless the user changed them, config.toml sections,
 * new core migrations, a mapping migration when the mapping changed, and the lock file.
 * @module
 */
import { lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { mappingMigrationSql } from '../mapping.ts';
import { CONFIG_TOML, emptyLock, InstallError, LOCK_FILE, MIGRATIONS_DIR, nextVersions, withFunctionSections } from './project.ts';
import type { Lock, Project } from './project.ts';
import { coreMigrations, FUNCTIONS, functionSources, sha256 } from './sources.ts';

/** One file to write (content) or remove (null); `what` says why, for the output. */
export type Change = {
  path: string;
  content: string | null;
  what: 'new' | 'updated' | 'replaced' | 'removed' | 'restored' | 'rewritten' | 'superseded';
};

/**
 * The mapping migration profile-sync wrote last, on the database: `applied`; `pending` (not in
 * supabase_migrations.schema_migrations: rewritten in place); `unknown` (no database to ask:
 * superseded, i.e. emptied of its mapping, by the new one after it); `none` (there is none).
 */
export type MappingState = 'applied' | 'pending' | 'unknown' | 'none';

export type Plan = {
  changes: Change[];
  /** Files left as they are, each with the reason. */
  kept: string[];
  notes: string[];
  lock: Lock;
};

export type PlanOptions = {
  force: boolean;
  /** The mapping document to install (validated); undefined when it is not complete yet. */
  mapping: unknown;
  /** generate: all new migrations in one file; init: each core migration as its own file. */
  oneMigration: boolean;
  /** supabase/profile-sync.json to write (init, when proposing), or undefined to leave it. */
  mappingFile?: string;
  /** Where the last mapping migration stands (see MappingState); `none` when not given. */
  mappingState?: MappingState;
  /** The database it was asked of, for the notes (`--db-url`, `SUPABASE_DB_URL`). */
  where?: string;
};

/** Where a `generate` upgrade migration's mapping part starts. */
const MAPPING_PART = '\n-- profile-sync mapping (supabase/profile-sync.json)\n';

/** A mapping migration profile-sync wrote, with its mapping part replaced by `part`. */
const withMappingPart = (old: string, part: string) =>
  old.includes(MAPPING_PART) ? old.slice(0, old.indexOf(MAPPING_PART)) + MAPPING_PART + part : part;

const supersededText = (by: string) =>
  `-- profile-sync: the mapping this migration applied was superseded by ${by} (written by \`profile-sync\`\n` +
  '-- without a database to ask whether this one had been applied): it applies no mapping any more.\n';

const suffix = (name: string) => name.replace(/^\d+_/, '');

function planFunctionFiles(project: Project, lock: Lock, force: boolean, plan: Plan) {
  const sources = functionSources();
  for (const { path, content } of sources) {
    const onDisk = project.read(path);
    const recorded = lock.files[path];
    if (onDisk === content) {
      plan.lock.files[path] = sha256(content);
    } else if (onDisk === undefined) {
      plan.changes.push({ path, content, what: recorded ? 'restored' : 'new' });
      plan.lock.files[path] = sha256(content);
    } else if ((recorded && sha256(onDisk) === recorded) || force) {
      plan.changes.push({ path, content, what: recorded && sha256(onDisk) === recorded ? 'updated' : 'replaced' });
      plan.lock.files[path] = sha256(content);
    } else {
      const upstream = recorded === sha256(content) ? 'kept' : 'not updated to the new version';
      plan.kept.push(recorded
        ? `${path}: you changed it since profile-sync wrote it, so it was ${upstream} (\`profile-sync init --force\` replaces it with profile-sync's version)`
        : `${path}: it exists and profile-sync did not write it, so it was left alone (\`profile-sync init --force\` replaces it)`);
      if (recorded) plan.lock.files[path] = recorded;
    }
  }
  const current = new Set(sources.map((s) => s.path));
  for (const [path, recorded] of Object.entries(lock.files)) {
    if (current.has(path)) continue;
    const onDisk = project.read(path);
    if (onDisk !== undefined && sha256(onDisk) === recorded) plan.changes.push({ path, content: null, what: 'removed' });
    else if (onDisk !== undefined) plan.kept.push(`${path}: profile-sync no longer ships it, but you changed it, so it was kept`);
  }
}

function planMigrations(project: Project, lock: Lock, options: PlanOptions, plan: Plan) {
  const core = coreMigrations();
  const fresh = core.filter((m) => !lock.core[m.name]);
  for (const m of core) {
    const installed = lock.core[m.name];
    if (installed && installed.sha256 !== sha256(m.content)) {
      plan.notes.push(`core migration ${m.name} changed upstream after ${installed.file} installed it; migrations are forward-only, so it is not applied again`);
    }
  }
  const mappingSha = options.mapping !== undefined ? sha256(JSON.stringify(options.mapping)) : undefined;
  let mappingChanged = mappingSha !== undefined && lock.mapping?.sha256 !== mappingSha;
  const previous = lock.mapping;
  const state = options.mappingState ?? 'none';
  if (mappingChanged && previous && state === 'pending') {
    // never applied: the new mapping takes its place, so a bad one cannot block every later push
    plan.changes.push({
      path: previous.file,
      content: withMappingPart(project.read(previous.file)!, mappingMigrationSql(options.mapping!)),
      what: 'rewritten',
    });
    plan.lock.mapping = { file: previous.file, sha256: mappingSha! };
    plan.notes.push(`${previous.file} is not applied at ${options.where ?? 'the database'} yet: rewritten in place with the new mapping`);
    mappingChanged = false;
  }
  const files: { name: string; content: string; core: typeof fresh; mapping: boolean }[] = [];
  if (options.oneMigration && fresh.length > 0 && (fresh.length > 1 || mappingChanged)) {
    const body = fresh.map((m) => `-- profile-sync core migration ${m.name}\n${m.content.replace(/\n*$/, '\n')}`).join('\n');
    const mappingPart = mappingChanged ? `${MAPPING_PART}${mappingMigrationSql(options.mapping!)}` : '';
    files.push({ name: 'profile_sync_upgrade.sql', content: body + mappingPart, core: fresh, mapping: mappingChanged });
  } else {
    for (const m of fresh) files.push({ name: suffix(m.name), content: m.content, core: [m], mapping: false });
    if (mappingChanged) files.push({ name: 'profile_sync_mapping.sql', content: mappingMigrationSql(options.mapping!), core: [], mapping: true });
  }
  const versions = nextVersions(project.migrations, files.length);
  files.forEach((f, i) => {
    const path = `${MIGRATIONS_DIR}/${versions[i]}_${f.name}`;
    plan.changes.push({ path, content: f.content, what: 'new' });
    for (const m of f.core) plan.lock.core[m.name] = { file: path, sha256: sha256(m.content) };
    if (!f.mapping) return;
    plan.lock.mapping = { file: path, sha256: mappingSha! };
    if (previous && state === 'unknown') {
      // it may have failed at `db push`: emptied of its mapping, it can no longer block this one
      const old = project.read(previous.file)!;
      plan.changes.push({
        path: previous.file,
        content: old.includes(MAPPING_PART) ? old.slice(0, old.indexOf(MAPPING_PART)) + MAPPING_PART + supersededText(path) : supersededText(path),
        what: 'superseded',
      });
      plan.notes.push(`${previous.file} may not be applied yet (no database was given to ask): it no longer applies a mapping; ${path} applies the new one`);
    }
  });
}

/** Everything init or generate would change in the project; nothing is written yet. */
export function planInstall(project: Project, options: PlanOptions): Plan {
  const lock = project.lock ?? emptyLock();
  const plan: Plan = {
    changes: [],
    kept: [],
    notes: [],
    lock: { ...emptyLock(), config_functions: [...lock.config_functions], core: { ...lock.core }, mapping: lock.mapping },
  };
  if (options.mappingFile !== undefined) {
    const path = 'supabase/profile-sync.json';
    plan.changes.push({ path, content: options.mappingFile, what: project.read(path) === undefined ? 'new' : 'replaced' });
  }
  planFunctionFiles(project, lock, options.force, plan);
  const toml = project.read(CONFIG_TOML)!;
  const wanted = FUNCTIONS.filter((f) => !lock.config_functions.includes(f));
  const sections = withFunctionSections(toml, wanted);
  if (sections.added.length > 0) plan.changes.push({ path: CONFIG_TOML, content: sections.toml, what: 'updated' });
  plan.notes.push(...sections.warnings);
  plan.lock.config_functions = [...new Set([...lock.config_functions, ...wanted])];
  planMigrations(project, lock, options, plan);
  const lockText = JSON.stringify(plan.lock, null, 2) + '\n';
  if (project.read(LOCK_FILE) !== lockText) {
    plan.changes.push({ path: LOCK_FILE, content: lockText, what: project.lock ? 'updated' : 'new' });
  }
  return plan;
}

/**
 * Refuses a path that resolves outside the project folder: a symlink (the file, or a folder on the
 * way) pointing elsewhere must not make init write there. Checked for every change before any.
 */
function assertInside(project: Project, path: string): void {
  const root = realpathSync(project.dir);
  let at = project.dir;
  for (const part of path.split('/')) {
    at = join(at, part);
    let link;
    try {
      link = lstatSync(at);
    } catch {
      return; // does not exist yet: created inside whatever is checked so far
    }
    if (!link.isSymbolicLink()) continue;
    let target: string;
    try {
      target = realpathSync(at);
    } catch {
      target = resolve(dirname(at), readlinkSync(at));
    }
    if (target !== root && !target.startsWith(root + sep)) {
      throw new InstallError(
        `${path}: ${relative(project.dir, at)} is a symlink to ${target}, outside the project folder: ` +
          'profile-sync writes only inside the project; replace the link with a folder or file, then run this again',
        'unsafe_path',
      );
    }
  }
}

/** Writes (or removes) every change of the plan; nothing when a path would leave the project. */
export function applyPlan(project: Project, plan: Plan): void {
  for (const change of plan.changes) assertInside(project, change.path);
  for (const change of plan.changes) {
    const full = join(project.dir, change.path);
    if (change.content === null) {
      rmSync(full, { force: true });
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, change.content);
  }
}

/** The plan's changes for people: function files grouped by folder, everything else by name. */
export function describeChanges(changes: Change[]): string[] {
  const lines: string[] = [];
  const groups = new Map<string, Change[]>();
  for (const c of changes) {
    const folder = /^supabase\/functions\/[^/]+\//.exec(c.path)?.[0];
    if (!folder) {
      lines.push(`  ${c.what.padEnd(8)} ${c.path}`);
      continue;
    }
    groups.set(folder, [...(groups.get(folder) ?? []), c]);
  }
  for (const [folder, group] of groups) {
    const whats = [...new Set(group.map((c) => c.what))].join('/');
    const names = group.map((c) => c.path.slice(folder.length));
    lines.push(`  ${whats.padEnd(8)} ${folder} (${names.length > 4 ? `${names.length} files` : names.join(', ')})`);
  }
  const path = (line: string) => line.trimStart().replace(/^\S+\s+/, '');
  return lines.sort((a, b) => path(a).localeCompare(path(b)));
}
