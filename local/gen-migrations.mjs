#!/usr/bin/env node
// `npm run gen:migrations`: writes the baseline migration from supabase/schemas/, the one place the
// SQL core is defined (each object once, one concern a file). The baseline is the files in name
// order, verbatim; tests/schema/migrations_match_schemas.test.ts checks that a database built from
// supabase/migrations equals one built from supabase/schemas. `--check` exits 1 when the file on
// disk is not what would be written.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './postgres.mjs';

export const SCHEMAS = join(ROOT, 'supabase', 'schemas');
export const BASELINE = join(ROOT, 'supabase', 'migrations', '20261130000000_profile_sync_core.sql');

export function schemaFiles() {
  return readdirSync(SCHEMAS).filter((f) => f.endsWith('.sql')).sort();
}

export function baselineText() {
  const parts = schemaFiles().map((f) => `-- ${'='.repeat(94)}\n-- supabase/schemas/${f}\n-- ${'='.repeat(94)}\n\n${readFileSync(join(SCHEMAS, f), 'utf8').trimEnd()}\n`);
  return `-- profile-sync core, generated from supabase/schemas/ by \`npm run gen:migrations\`: edit those\n-- files, not this one.\n\n${parts.join('\n')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = baselineText();
  if (process.argv.includes('--check')) {
    const current = readFileSync(BASELINE, 'utf8');
    if (current !== text) {
      console.error(`${BASELINE} is out of date: run npm run gen:migrations`);
      process.exit(1);
    }
  } else {
    writeFileSync(BASELINE, text);
    console.log(`wrote ${BASELINE}`);
  }
}
