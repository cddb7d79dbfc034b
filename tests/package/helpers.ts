/**
 * Commands run as a user runs them in a project folder (npm, npx, node), their output kept.
 * @module
 */

export const QUIET = { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

export async function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, {
    args,
    cwd,
    env: { ...QUIET, ...env },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const result = {
    code: out.code,
    out: new TextDecoder().decode(out.stdout),
    err: new TextDecoder().decode(out.stderr),
  };
  return {
    ...result,
    text: `${command} ${args.join(' ')} (exit ${out.code}):\n${result.out}\n${result.err}`,
  };
}
