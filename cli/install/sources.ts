/**
 * What `profile-sync init` and `generate` install, read from this repository's own sources (no
 * second copy): the functions, the shared module as supabase/functions/_shared, each function's
 * deno.json import map, and the core migrations.
 * @module
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const FUNCTIONS = ['auth-webhook', 'sync-profile', 'reconcile'] as const;
/** The migration that applies a mapping; every other file in supabase/migrations is core. */
export const MAPPING_SUFFIX = '_profile_sync_mapping.sql';

export type SourceFile = { path: string; content: string };

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const tsFiles = (dir: string) => readdirSync(`${ROOT}${dir}`).filter((f) => f.endsWith('.ts')).sort();

/** The functions import ../../shared/; installed they sit beside _shared (Supabase's convention). */
const rewriteImports = (code: string) => code.replaceAll(/(['"])\.\.\/\.\.\/shared\//g, '$1../_shared/');

/** The import map the hosted bundler needs, the same pins as this repository deploys with. */
function denoJson(): string {
  const { imports } = JSON.parse(readFileSync(`${ROOT}supabase/functions/import_map.json`, 'utf8'));
  return JSON.stringify({ imports }, null, 2) + '\n';
}

/** Every file under supabase/functions/ that profile-sync owns in a project, by project-relative path. */
export function functionSources(): SourceFile[] {
  const files: SourceFile[] = [];
  for (const name of FUNCTIONS) {
    for (const file of tsFiles(`functions/${name}`)) {
      files.push({
        path: `supabase/functions/${name}/${file}`,
        content: rewriteImports(readFileSync(`${ROOT}functions/${name}/${file}`, 'utf8')),
      });
    }
    files.push({ path: `supabase/functions/${name}/deno.json`, content: denoJson() });
  }
  for (const file of tsFiles('shared')) {
    files.push({ path: `supabase/functions/_shared/${file}`, content: readFileSync(`${ROOT}shared/${file}`, 'utf8') });
  }
  return files;
}

export type CoreMigration = { name: string; content: string };

/** The core migrations in order (this repository's supabase/migrations less its mapping migration). */
export function coreMigrations(): CoreMigration[] {
  return readdirSync(`${ROOT}supabase/migrations`)
    .filter((f) => /^\d+_.*\.sql$/.test(f) && !f.endsWith(MAPPING_SUFFIX))
    .sort()
    .map((name) => ({ name, content: readFileSync(`${ROOT}supabase/migrations/${name}`, 'utf8') }));
}

/** What a config.toml section for a function says: profile-sync checks every caller itself. */
export function functionConfig(name: string): string {
  return `[functions.${name}]\nenabled = true\nverify_jwt = false\nimport_map = "./functions/${name}/deno.json"\n`;
}
