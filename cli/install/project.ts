/**
 * A Supabase project folder as init and generate see it: supabase/config.toml, the migration
 * history, supabase/profile-sync.json, and the lock file recording what profile-sync installed
 * (supabase/profile-sync.lock.json: the hash of every file it wrote, which core migrations and
 * which mapping it installed), so hand edits are noticed and nothing is installed twice.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionConfig } from './sources.ts';

export const CONFIG_TOML = 'supabase/config.toml';
export const MAPPING_FILE = 'supabase/profile-sync.json';
export const LOCK_FILE = 'supabase/profile-sync.lock.json';
export const MIGRATIONS_DIR = 'supabase/migrations';

export type Lock = {
  /** Bumped when the lock's shape changes. */
  version: 1;
  /** project-relative path → sha256 of the content profile-sync last wrote there. */
  files: Record<string, string>;
  /** config.toml sections profile-sync added. */
  config_functions: string[];
  /** upstream core migration name → the file it was installed as and the upstream content's sha256. */
  core: Record<string, { file: string; sha256: string }>;
  /** the mapping last installed: its migration and the sha256 of the mapping document's JSON. */
  mapping: { file: string; sha256: string } | null;
};

export const emptyLock = (): Lock => ({ version: 1, files: {}, config_functions: [], core: {}, mapping: null });

/** A problem with the project or the input: exit 2, with what to do, nothing written. */
export class InstallError extends Error {
  override name = 'InstallError';
  /** Stable code printed with the message: `install_input`, `mapping_invalid`, `unsafe_path`, … */
  constructor(message: string, readonly code = 'install_input') {
    super(message);
  }
}

export type Project = {
  dir: string;
  read(path: string): string | undefined;
  lock: Lock | undefined;
  /** migration file names, sorted. */
  migrations: string[];
};

/** The lock file in a project folder, or undefined when profile-sync is not installed there (or it is unreadable). */
export function readLock(dir: string): Lock | undefined {
  try {
    return { ...emptyLock(), ...JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) };
  } catch {
    return undefined;
  }
}

export function openProject(dir: string): Project {
  const read = (path: string) => {
    const full = join(dir, path);
    return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  };
  if (read(CONFIG_TOML) === undefined) {
    throw new InstallError(
      `no ${CONFIG_TOML} in ${dir}: run this from your Supabase project's folder (the one holding supabase/), ` +
        'or create one with `npx supabase init`',
    );
  }
  let lock: Lock | undefined;
  const lockText = read(LOCK_FILE);
  if (lockText !== undefined) {
    try {
      lock = { ...emptyLock(), ...JSON.parse(lockText) };
    } catch (err) {
      throw new InstallError(`${LOCK_FILE} is not valid JSON (${(err as Error).message}): restore it from version control`);
    }
  }
  const migrationsDir = join(dir, MIGRATIONS_DIR);
  const migrations = existsSync(migrationsDir) ? readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort() : [];
  return { dir, read, lock, migrations };
}

const pad = (n: number) => String(n).padStart(2, '0');
const stamp = (d: Date) =>
  `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;

/** `count` migration versions (YYYYMMDDHHMMSS), one second apart, after now and after the newest there. */
export function nextVersions(existing: string[], count: number, now = new Date()): string[] {
  const versions = existing.map((f) => /^(\d+)_/.exec(f)?.[1]).filter((v): v is string => v !== undefined);
  let next = new Date(Math.floor(now.getTime() / 1000) * 1000);
  for (const v of versions) {
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(v);
    const t = m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + 1000 : Number.NaN;
    if (t > next.getTime()) next = new Date(t);
  }
  return Array.from({ length: count }, (_, i) => stamp(new Date(next.getTime() + i * 1000)));
}

const sectionHeader = (name: string) => new RegExp(`^\\s*\\[\\s*functions\\s*\\.\\s*("?)${name.replace(/-/g, '\\-')}\\1\\s*\\]`, 'm');

/**
 * config.toml with a [functions.<name>] section appended for each function that has none; the
 * rest of the file is kept byte for byte. `warnings` name sections that exist but would check JWTs.
 */
export function withFunctionSections(toml: string, names: readonly string[]): { toml: string; added: string[]; warnings: string[] } {
  const added: string[] = [];
  const warnings: string[] = [];
  let out = toml;
  for (const name of names) {
    const header = sectionHeader(name).exec(toml);
    if (header) {
      const rest = toml.slice(header.index + header[0].length);
      const body = rest.slice(0, rest.search(/^\s*\[/m) === -1 ? undefined : rest.search(/^\s*\[/m));
      if (!/^\s*verify_jwt\s*=\s*false\b/m.test(body)) {
        warnings.push(`${CONFIG_TOML}: [functions.${name}] has no \`verify_jwt = false\`: add it (the function checks its callers itself; the gateway would refuse pg_net's and pg_cron's calls)`);
      }
      continue;
    }
    if (added.length === 0) out = `${out.endsWith('\n') ? out : `${out}\n`}\n# profile-sync: each function authenticates its caller itself (webhook signature, user JWT, secret key).\n`;
    out += `${added.length > 0 ? '\n' : ''}${functionConfig(name)}`;
    added.push(name);
  }
  return { toml: out, added, warnings };
}
