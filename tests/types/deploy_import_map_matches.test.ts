// supabase/functions/import_map.json (what `supabase functions deploy` bundles with, and what `init`
// writes as each installed function's deno.json) carries deno.json's pins for exactly the packages
// the functions import: run `npm run gen:import-map` after changing deno.json or an import.
import { deepStrictEqual, strictEqual } from 'node:assert/strict';

const node = async (code: string) => {
  const out = await new Deno.Command('node', {
    args: ['--input-type=module', '-e', code],
    stdout: 'piped',
    stderr: 'piped',
  })
    .output();
  strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
};

Deno.test('the deploy import map matches deno.json and holds only what the functions import', async () => {
  const generated = await node(`
    const { deployImportMap } = await import('./local/gen-import-map.mjs');
    process.stdout.write(deployImportMap());`);
  const committed = await Deno.readTextFile('supabase/functions/import_map.json');
  strictEqual(
    committed === generated,
    true,
    'supabase/functions/import_map.json is stale: run `npm run gen:import-map`',
  );

  const map = JSON.parse(committed).imports as Record<string, string>;
  // what the deployed code imports, as Deno's own module graph has it
  const packages = new Set<string>();
  for (const name of ['auth-webhook', 'sync-profile', 'reconcile']) {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ['info', '--json', `functions/${name}/index.ts`],
      stdout: 'piped',
      stderr: 'piped',
    }).output();
    strictEqual(info.code, 0, new TextDecoder().decode(info.stderr));
    const { modules } = JSON.parse(new TextDecoder().decode(info.stdout)) as {
      modules: { specifier: string; dependencies?: { specifier: string }[] }[];
    };
    for (
      const mod of modules.filter((m) =>
        m.specifier.startsWith('file:') && !m.specifier.includes('/node_modules/')
      )
    ) {
      for (const dep of mod.dependencies ?? []) {
        if (!dep.specifier.startsWith('.') && !dep.specifier.startsWith('node:')) packages.add(dep.specifier);
      }
    }
  }
  deepStrictEqual(
    Object.keys(map).sort(),
    [...packages].sort(),
    'the map holds exactly the packages the functions import',
  );
  strictEqual(map.standardwebhooks, undefined, 'standardwebhooks is only for tests and the bench');
});
