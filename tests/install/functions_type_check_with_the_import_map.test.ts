/**
 * The functions init wrote type-check from the project folder with the deno.json beside each
 * (the import map the hosted bundler uses; no node_modules, no profile-sync deno.json), and the
 * package's bin runs init from the project folder as `npx profile-sync init` does.
 */
import assert from 'node:assert/strict';
import { scratchProject } from './project.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

Deno.test('each installed function type-checks with its own deno.json', async () => {
  const project = scratchProject();
  try {
    const init = await new Deno.Command('node', {
      args: [`${ROOT}cli/bin.mjs`, 'init', '--yes'],
      cwd: project.dir,
      stdout: 'piped',
      stderr: 'piped',
    }).output();
    assert.equal(init.code, 0, new TextDecoder().decode(init.stderr));
    assert.match(new TextDecoder().decode(init.stdout), /next steps, in this order/);
    for (const name of ['auth-webhook', 'sync-profile', 'reconcile']) {
      const check = await new Deno.Command(`${ROOT}node_modules/.bin/deno`, {
        args: ['check', '--quiet', '--config', `supabase/functions/${name}/deno.json`, `supabase/functions/${name}/index.ts`],
        cwd: project.dir,
        env: { DENO_NO_UPDATE_CHECK: '1' },
        stdout: 'piped',
        stderr: 'piped',
      }).output();
      assert.equal(check.code, 0, `${name}: ${new TextDecoder().decode(check.stderr)}`);
    }
  } finally {
    project.remove();
  }
});
