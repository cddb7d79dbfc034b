#!/usr/bin/env node
// `npm run build` (and `prepack`, so `npm pack` / `npm publish` always ship a fresh one): bundles the
// CLI (cli/entry.ts and what it imports from cli/ and shared/) into dist/cli.mjs, plain JavaScript
// for Node 20.11+ with no flags. npm packages stay imports, and each must be a runtime dependency
// in package.json: the build fails otherwise, so the published package never lacks one. dist/ sits one
// folder below the package root, as cli/ does, so a module that finds profile-sync's own files
// relative to itself (`new URL('../supabase/migrations/', import.meta.url)`) finds them either way.
// For the same reason an assets/ folder beside a CLI module (read with new URL('./assets/…',
// import.meta.url)) is copied to dist/assets/. It fails too when the bundle uses the Deno global,
// which Node does not have.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './postgres.mjs';

export const DIST = join(ROOT, 'dist');

export async function buildCli() {
  rmSync(DIST, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(ROOT, 'cli', 'entry.ts')],
    outfile: join(DIST, 'cli.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.11',
    packages: 'external',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    banner: { js: '// profile-sync CLI, bundled from cli/ and shared/ by local/build-cli.mjs: edit those, not this.' },
  });
  copyAssets();
  const { dependencies = {} } = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default;
  const builtins = new Set(builtinModules);
  const imported = new Set(
    Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)),
  );
  const packageOf = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
  const missing = [...imported].filter((s) => !s.startsWith('node:') && !builtins.has(s) && !(packageOf(s) in dependencies));
  if (missing.length) {
    throw new Error(`the CLI imports ${missing.join(', ')}: add ${missing.length > 1 ? 'them' : 'it'} to package.json "dependencies"`);
  }
  // Node has no Deno global: the CLI's code uses node: APIs (Deno runs those too)
  const denoUses = [...new Set(readFileSync(join(DIST, 'cli.mjs'), 'utf8').match(/\bDeno\.\w+/g) ?? [])];
  if (denoUses.length) throw new Error(`the CLI uses ${denoUses.join(', ')}, which Node does not have: use node: APIs in cli/ and shared/`);
  return { imported: [...imported].sort() };
}

/** Every assets/ folder under cli/, into dist/assets/, where the bundled module looks for it. */
function copyAssets() {
  const folders = readdirSync(join(ROOT, 'cli'), { recursive: true }).filter((p) => /(^|\/)assets$/.test(p));
  for (const folder of folders) {
    for (const name of readdirSync(join(ROOT, 'cli', folder))) {
      const to = join(DIST, 'assets', name);
      if (existsSync(to)) throw new Error(`two CLI assets are named ${name}: dist/assets/ holds one`);
      cpSync(join(ROOT, 'cli', folder, name), to, { recursive: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { imported } = await buildCli();
  console.log(`wrote dist/cli.mjs (imports ${imported.join(', ')})`);
}
