// supabase/functions/import_map.json (what `supabase functions deploy` bundles with) must carry
// deno.json's pins: run `npm run gen:import-map` after changing deno.json.
import { strictEqual } from 'node:assert/strict';

Deno.test('the deploy import map matches deno.json', async () => {
  const out = await new Deno.Command('node', {
    args: [
      '--input-type=module',
      '-e',
      `
      const { deployImportMap } = await import('./local/gen-import-map.mjs');
      process.stdout.write(deployImportMap());`,
    ],
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  const committed = await Deno.readTextFile('supabase/functions/import_map.json');
  strictEqual(
    committed === new TextDecoder().decode(out.stdout),
    true,
    'supabase/functions/import_map.json is stale: run `npm run gen:import-map`',
  );
  // every bare import the functions and shared/ use must be in it
  const map = JSON.parse(committed).imports as Record<string, string>;
  for (const name of ['hono', 'zod', 'postgres', 'jose', 'standardwebhooks', '@supabase/supabase-js/cors']) {
    strictEqual(typeof map[name], 'string', `${name} is missing from the deploy import map`);
  }
});
