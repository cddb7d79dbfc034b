// shared/database.types.ts must be what `supabase gen types typescript` makes of the migrations
// today: run `npm run gen:types` after changing a migration.
import { strictEqual } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';

Deno.test('generated database types match the migrations', async () => {
  const db = await freshDatabase('types');
  try {
    const out = new Deno.Command('node', {
      args: ['--input-type=module', '-e', `
        const { generateTypes } = await import('./local/gen-types.mjs');
        process.stdout.write(await generateTypes(${JSON.stringify(db.url)}));`],
      stdout: 'piped',
      stderr: 'piped',
    });
    const { code, stdout, stderr } = await out.output();
    strictEqual(code, 0, new TextDecoder().decode(stderr));
    const generated = new TextDecoder().decode(stdout);
    const committed = await Deno.readTextFile('shared/database.types.ts');
    strictEqual(committed === generated, true, 'shared/database.types.ts is stale: run `npm run gen:types`');
  } finally {
    await db.drop();
  }
});
