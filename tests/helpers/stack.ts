/**
 * The local stack for over-HTTP tests: all functions on a free port against a test database,
 * with the dev keys (local/dev-keys.ts) and, where the database has the pg_net stand-in, the relay.
 * @module
 */
import { DEV_JWKS, devEnv } from '../../local/dev-keys.ts';
import { startLocalStack } from '../../local/stack.ts';
import type { LocalStack, StackOptions } from '../../local/stack.ts';
import { createLogger } from '../../shared/log.ts';

export function freePort(): number {
  const l = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}

export type TestStack = LocalStack & { logs: string[]; supabaseUrl: string };

/**
 * Starts the stack for `dbUrl`. `env` overrides the dev environment (set a key to undefined to
 * remove it). Log lines are kept in `logs` (and not printed) so tests can inspect them.
 */
export async function startTestStack(
  dbUrl: string,
  options: { env?: Record<string, string | undefined>; relay?: boolean; port?: number; functions?: StackOptions['functions'] } = {},
): Promise<TestStack> {
  const port = options.port ?? freePort();
  const supabaseUrl = `http://127.0.0.1:${port}`;
  const env: Record<string, string | undefined> = { ...devEnv(dbUrl, supabaseUrl), ...options.env };
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', sink: (line) => logs.push(line) });
  const stack = await startLocalStack({ env, port, relay: options.relay ?? false, log, functions: options.functions, jwks: DEV_JWKS });
  return Object.assign(stack, { logs, supabaseUrl });
}
