/**
 * `init` ships only what runs: the files it writes under supabase/functions/ are exactly the
 * functions' import graph as Deno resolves it (cli/install/import-graph.mjs reads it from the
 * sources; `deno info` is the judge), with each function's deno.json and nothing else.
 */
import assert from 'node:assert/strict';
import { functionImports, FUNCTIONS } from '../../cli/install/import-graph.mjs';
import { scratchProject } from './project.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The repository files a function loads, as `deno info` resolves them. */
async function denoGraph(name: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['info', '--json', `${ROOT}functions/${name}/index.ts`],
    stdout: 'piped',
  })
    .output();
  const { modules } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  return modules.map((m) => m.specifier).filter((s) =>
    s.startsWith(`file://${ROOT}`) && !s.includes('/node_modules/')
  )
    .map((s) => new URL(s).pathname.slice(ROOT.length)).sort();
}

Deno.test('the import graph init copies from is the one Deno resolves', async () => {
  const { files } = functionImports(ROOT);
  for (const name of FUNCTIONS) assert.deepEqual([...files[name]].sort(), await denoGraph(name), name);
});

Deno.test('init writes the functions, their deno.json and the shared modules they import, nothing else', async () => {
  const project = scratchProject();
  try {
    const run = await project.cli(['init', '--yes']);
    assert.equal(run.code, 0, run.err);
    const written = Object.keys(project.tree()).filter((p) => p.startsWith('supabase/functions/')).sort();
    const { files } = functionImports(ROOT);
    const expected = new Set<string>();
    for (const name of FUNCTIONS) {
      expected.add(`supabase/functions/${name}/deno.json`);
      for (const file of files[name]) {
        expected.add(
          file.startsWith('shared/') ? `supabase/functions/_shared/${file.slice(7)}` : `supabase/${file}`,
        );
      }
    }
    assert.deepEqual(written, [...expected].sort());
    assert.ok(!written.includes('supabase/functions/_shared/mapping.ts'));
  } finally {
    project.remove();
  }
});
