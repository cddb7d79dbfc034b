/**
 * The local stack as a user runs it (`npx profile-sync dev`, `npm run dev`): a Node process in a
 * clean environment, read until its banner is out.
 * @module
 */
import postgres from 'postgres';
import { insertAuthUser, provider } from './users.ts';
import { waitFor } from './wait.ts';

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

/** The local stack's database (the embedded cluster's superuser) on `port`. */
export const devDatabase = (port: number) =>
  postgres(`postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, { max: 2, onnotice: () => {} });

/**
 * Signs up a Google user named `name` as Auth would, then waits for the profile the stack writes
 * (trigger, pg_net relay, auth-webhook); returns its full_name.
 */
export async function signUpAndReadProfile(sql: postgres.Sql, name: string): Promise<string> {
  const id = await insertAuthUser(sql, provider.google(name));
  const row = await waitFor("the signup's profile", async () =>
    (await sql`select full_name from public.profiles where id = ${id}`)[0]);
  return row.full_name;
}
