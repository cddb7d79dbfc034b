// One Edge Function in its own Deno process, started from its real entry point
// (functions/<name>/index.ts, on a free port via DENO_SERVE_ADDRESS) so the benchmark can time
// its cold start (spawn → first 200) and read its peak memory (VmHWM) as the platform would see it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../local/postgres.mjs';
import { freePort } from '../../local/tools.mjs';
import { DENO } from './deno.mjs';
import { requestOnce } from './load.mjs';

/** Thrown when a function answers its probe with the placeholder's 404/405/501: not written yet. */
export class NotAvailable extends Error {
  name = 'NotAvailable';
}

const kib = (status, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);

/**
 * Starts functions/<name>/index.ts with `env`, polls it until it answers at all (`bootMs`: an
 * unauthenticated GET, no database work), then sends `probe` (a request description {path,
 * method, headers, body}, or a function returning one) until it answers 200 (`coldStartMs`:
 * spawn → first 200, including the first connection to the database and the probe's own work).
 */
export async function startFunction(name, env, probe, { logDir, timeoutMs = 30_000 } = {}) {
  const port = await freePort();
  const logPath = join(logDir, `${name}-${port}.log`);
  const logFd = openSync(logPath, 'a');
  const started = performance.now();
  const child = spawn(DENO, ['run', '-A', '--no-prompt', join(ROOT, 'functions', name, 'index.ts')], {
    cwd: ROOT,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const url = `http://127.0.0.1:${port}/${name}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exit;
    clearTimeout(timer);
  };

  const waitFor = async (request) => {
    for (;;) {
      if (exited) throw new Error(`${name} exited (${exited.code ?? exited.signal}) before answering; see ${logPath}`);
      if (performance.now() - started > timeoutMs) {
        await stop();
        throw new Error(`${name} did not answer within ${timeoutMs} ms; see ${logPath}`);
      }
      const p = typeof request === 'function' ? await request() : request;
      const res = await requestOnce(url + (p.path ?? ''), p).catch(() => undefined);
      if (res) return res;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  await waitFor({ method: 'GET' });
  const bootMs = performance.now() - started;
  const answer = await waitFor(probe);
  const coldStartMs = performance.now() - started;
  if (answer.status !== 200) {
    await stop();
    if ([404, 405, 501].includes(answer.status)) throw new NotAvailable(`${name} answered ${answer.status}: not written yet`);
    throw new Error(`${name} answered its probe with ${answer.status}: ${answer.body.slice(0, 300)}`);
  }
  return {
    name,
    url,
    pid: child.pid,
    bootMs,
    coldStartMs,
    logPath,
    /** Peak and current resident memory of the function process, in MiB. */
    memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return { peakMiB: kib(status, 'VmHWM') / 1024, rssMiB: kib(status, 'VmRSS') / 1024 };
    },
    stop,
    /** Kills the process at once (for an exit handler, which cannot wait). */
    kill: () => child.kill('SIGKILL'),
  };
}
