/**
 * Runs the profile-sync CLI in-process (cli/main.ts's `main`) with a given environment, capturing
 * stdout, stderr and the exit code; `json` is stdout parsed when it is JSON.
 * @module
 */
import { main } from '../../cli/main.ts';

export type CliResult = { code: number; out: string; err: string; json: Record<string, unknown> };

export async function runCli(env: Record<string, string | undefined>, ...argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), isTerminal: false, env });
  const text = out.join('\n');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // human output
  }
  return { code, out: text, err: err.join('\n'), json };
}
