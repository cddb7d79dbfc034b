/**
 * One Edge Function in its own Deno process, from its real entry point (functions/<name>/index.ts
 * on a free port via DENO_SERVE_ADDRESS), so a test can read its memory as the platform would.
 * @module
 */
import { fileURLToPath as fromFileUrl } from 'node:url';
import { freePort } from './stack.ts';

export type FunctionProcess = {
  /** The function's root, e.g. http://127.0.0.1:1234/auth-webhook */
  url: string;
  /** Resident and peak resident memory (VmRSS, VmHWM) of the process, in MiB. */
  memory(): { rssMiB: number; peakMiB: number };
  stop(): Promise<void>;
};

const kib = (status: string, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);

export async function startFunctionProcess(name: string, env: Record<string, string>): Promise<FunctionProcess> {
  const port = freePort();
  const entry = fromFileUrl(new URL(`../../functions/${name}/index.ts`, import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--no-prompt', entry],
    env: { ...env, DENO_NO_UPDATE_CHECK: '1', PROFILE_SYNC_LOG_LEVEL: 'warn', DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
    stdout: 'null',
    stderr: 'inherit',
  }).spawn();
  const url = `http://127.0.0.1:${port}/${name}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answered = await fetch(url, { method: 'GET' }).then((r) => r.body?.cancel(), () => false);
    if (answered !== false) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await child.status;
      throw new Error(`${name} did not start within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    memory() {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      return { rssMiB: kib(status, 'VmRSS') / 1024, peakMiB: kib(status, 'VmHWM') / 1024 };
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await child.status;
      clearTimeout(timer);
    },
  };
}
