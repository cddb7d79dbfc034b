#!/usr/bin/env node
// Writes supabase/functions/import_map.json, the import map `supabase functions deploy` uses
// (config.toml) and `init` writes as each installed function's deno.json: deno.json's pins (they
// live once, there) for exactly the packages the functions import (cli/install/import-graph.mjs), so
// nothing only tests, the bench or the CLI use is deployed. Locally Deno resolves the same npm:
// specifiers from node_modules ("nodeModulesDir": "manual"). tests/types/deploy_import_map_matches.test.ts
// fails when the map is stale: run `npm run gen:import-map` after changing deno.json or an import.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionImports } from '../cli/install/import-graph.mjs';
import { ROOT } from './postgres.mjs';

export const IMPORT_MAP_FILE = join(ROOT, 'supabase', 'functions', 'import_map.json');

/** A map entry serves an import when it is the specifier, or a prefix ending in '/' of it. */
const serves = (key, spec) => (key.endsWith('/') ? spec.startsWith(key) : spec === key);

export function deployImportMap() {
  const { imports } = JSON.parse(readFileSync(join(ROOT, 'deno.json'), 'utf8'));
  const { packages } = functionImports(ROOT);
  const missing = packages.filter((spec) => !Object.keys(imports).some((key) => serves(key, spec)));
  if (missing.length) throw new Error(`deno.json has no pin for ${missing.join(', ')}, which the functions import`);
  const kept = Object.entries(imports).filter(([key]) => packages.some((spec) => serves(key, spec)));
  return JSON.stringify({ imports: Object.fromEntries(kept) }, null, 2) + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(IMPORT_MAP_FILE, deployImportMap());
  console.log(`wrote ${IMPORT_MAP_FILE}`);
}
