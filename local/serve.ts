/**
 * `deno run local/serve.ts`: the functions half of `npm run dev` (local/dev.mjs starts the
 * database and runs this with the functions' environment). Ctrl-C / SIGTERM stop it cleanly.
 * @module
 */
import { ConfigError } from '../shared/config.ts';
import { startLocalStack } from './stack.ts';

const env = Deno.env.toObject();
try {
  const stack = await startLocalStack({
    env,
    port: Number(env.PORT ?? 54321),
    hostname: env.HOST ?? '127.0.0.1',
    relay: env.PROFILE_SYNC_LOCAL_RELAY === '1',
  });
  const stop = async () => {
    await stack.close();
    Deno.exit(0);
  };
  Deno.addSignalListener('SIGINT', stop);
  Deno.addSignalListener('SIGTERM', stop);
  console.error(`functions listening on ${stack.url}/functions/v1/`);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    Deno.exit(2);
  }
  if (err instanceof Deno.errors.AddrInUse) {
    console.error(`port ${env.PORT ?? 54321} is already in use: stop what holds it or set PORT to a free port`);
    Deno.exit(2);
  }
  throw err;
}
