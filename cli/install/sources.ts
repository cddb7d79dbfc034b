/**
 * What `profile-sync init` and `generate` install, read from profile-sync's own sources (no second
 * copy): the functions and the shared modules they import (as supabase/functions/_shared), each
 * function's deno.json import map, and the core migrations.
 * @module
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { packageRoot } from '../package-root.ts';
import { functionImports, FUNCTIONS } from './import-graph.mjs';

export { FUNCTIONS };
/** The migration that applies a mapping; every other file in supabase/migrations is core. */
export const MAPPING_SUFFIX = '_profile_sync_mapping.sql';

export type SourceFile = { path: string; content: string };

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The functions import ../../shared/; installed they sit beside _shared (Supabase's convention). */
const rewriteImports = (code: string) => code.replaceAll(/(['"])\.\.\/\.\.\/shared\//g, '$1../_shared/');

/** The import map the hosted bundler needs, the same pins as this repository deploys with. */
function denoJson(): string {
  const { imports } = JSON.parse(readFileSync(`${packageRoot()}supabase/functions/import_map.json`, 'utf8'));
  return JSON.stringify({ imports }, null, 2) + '\n';
}

/**
 * Every file under supabase/functions/ that profile-sync owns in a project, by project-relative
 * path: exactly what the functions import (their import graph), each function's deno.json, and the
 * shared modules they reach as _shared/.
 */
export function functionSources(): SourceFile[] {
  const root = packageRoot();
  const read = (file: string) => rewriteImports(readFileSync(`${root}${file}`, 'utf8'));
  const { files } = functionImports(root);
  const out: SourceFile[] = [];
  const shared = new Set<string>();
  for (const name of FUNCTIONS) {
    for (const file of files[name]) {
      if (/^shared\/[^/]+\.ts$/.test(file)) shared.add(file);
      else if (file.startsWith(`functions/${name}/`)) {
        out.push({ path: `supabase/${file}`, content: read(file) });
      } else throw new Error(`${name} imports ${file}, which is neither in its own folder nor in shared/`);
    }
    out.push({ path: `supabase/functions/${name}/deno.json`, content: denoJson() });
  }
  for (const file of [...shared].sort()) {
    out.push({ path: `supabase/functions/_shared/${file.slice('shared/'.length)}`, content: read(file) });
  }
  return out;
}

export type CoreMigration = { name: string; content: string };

/** The core migrations in order (this repository's supabase/migrations less its mapping migration). */
export function coreMigrations(): CoreMigration[] {
  return readdirSync(`${packageRoot()}supabase/migrations`)
    .filter((f) => /^\d+_.*\.sql$/.test(f) && !f.endsWith(MAPPING_SUFFIX))
    .sort()
    .map((name) => ({ name, content: readFileSync(`${packageRoot()}supabase/migrations/${name}`, 'utf8') }));
}

/** What a config.toml section for a function says: profile-sync checks every caller itself. */
export function functionConfig(name: string): string {
  return `[functions.${name}]\nenabled = true\nverify_jwt = false\nimport_map = "./functions/${name}/deno.json"\n`;
}
