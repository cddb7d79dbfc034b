#!/usr/bin/env node
// Writes supabase/functions/import_map.json, the import map `supabase functions deploy` uses
// (config.toml), from deno.json's imports: the pins live once, in deno.json. Locally Deno resolves
// the same npm: specifiers from node_modules ("nodeModulesDir": "manual"); the deployed bundle has
// no node_modules, so it gets a plain import map. tests/types/deploy_import_map_matches.test.ts
// fails when the two disagree: run `npm run gen:import-map` after changing deno.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './postgres.mjs';

export const IMPORT_MAP_FILE = join(ROOT, 'supabase', 'functions', 'import_map.json');
// Only what the functions import; test and tooling packages stay out of the deployed map.
const TEST_ONLY = new Set(['fast-check', 'playwright-core', '@sparticuz/chromium', 'cli-progress', '@hono/node-server']);

export function deployImportMap() {
  const { imports } = JSON.parse(readFileSync(join(ROOT, 'deno.json'), 'utf8'));
  const kept = Object.fromEntries(Object.entries(imports).filter(([name]) => !TEST_ONLY.has(name)));
  return JSON.stringify({ imports: kept }, null, 2) + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(IMPORT_MAP_FILE, deployImportMap());
  console.log(`wrote ${IMPORT_MAP_FILE}`);
}
