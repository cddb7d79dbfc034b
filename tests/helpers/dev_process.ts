/**
 * The local stack as a user runs it (`npx profile-sync dev`, `npm run dev`): a Node process in a
 * clean environment, read until its banner is out.
 * @module
 */
export type Running = { child: Deno.ChildProcess; output: () => string; done: Promise<Deno.CommandStatus> };

/** Runs `node <args>` until the stack's banner is out (or it exits, or 120 s pass). */
export async function startDev(args: string[], cwd: string, env: Record<string, string>): Promise<Running> {
  const child = new Deno.Command('node', { args, cwd, env: { PATH: Deno.env.get('PATH')!, HOME: Deno.env.get('HOME') ?? '/tmp', ...env }, clearEnv: true, stdout: 'piped', stderr: 'piped' }).spawn();
  let text = '';
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const done = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => child.status);
  const deadline = Date.now() + 120_000;
  while (!text.includes('Ctrl-C stops everything') && Date.now() < deadline) {
    if (await Promise.race([done.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))])) break;
  }
  return { child, output: () => text, done };
}

export async function stopDev(run: Running): Promise<void> {
  try {
    run.child.kill('SIGTERM');
  } catch {
    // already gone
  }
  await Promise.race([run.done, new Promise((r) => setTimeout(r, 30_000))]);
}
