/**
 * `npm run dev` driven as a deployment drives it, over HTTP: on its own embedded database it
 * prints an export block and mints user tokens, refuses a second stack on the same data saying
 * why, times out slow clients as the gateway does, and stops everything when `npm` gets SIGTERM;
 * given a project's environment it honours every variable and prints none of the given secrets.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { newKeyPair, sign, userClaims } from '../sync-profile/tokens.ts';
import { signDevAccessToken } from '../../local/dev-keys.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DEV_SECRET_KEY = 'sb_secret_profile_sync_local_dev_only';

type Dev = { child: Deno.ChildProcess; output: () => string; url: string; done: Promise<Deno.CommandStatus> };

/** Starts `npm run dev` (or `node local/dev.mjs`) with env; resolves once the banner is out. */
async function startDev(env: Record<string, string>, viaNpm = true): Promise<Dev> {
  const cmd = viaNpm ? new Deno.Command('npm', { args: ['run', '--silent', 'dev'], cwd: ROOT, env, stdout: 'piped', stderr: 'piped' })
    : new Deno.Command('node', { args: ['local/dev.mjs'], cwd: ROOT, env, stdout: 'piped', stderr: 'piped' });
  const child = cmd.spawn();
  let text = '';
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const done = pumped.then(() => child.status);
  const deadline = Date.now() + 60_000;
  while (!text.includes('Ctrl-C stops everything') && Date.now() < deadline) {
    const exited = await Promise.race([done.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
    if (exited) break;
  }
  return { child, output: () => text, url: `http://127.0.0.1:${env.PORT}`, done };
}

/** Waits for p, or 20 s: a failed step must not hang the suite on a pipe a grandchild still holds. */
async function settled(p: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
  clearTimeout(timer);
}

const alive = (pid: number) => {
  try {
    Deno.kill(pid, 'SIGCONT');
    return true;
  } catch {
    return false;
  }
};

/** Every live descendant of pid (pid, command name), from /proc. */
function descendants(pid: number): { pid: number; name: string }[] {
  const children = new Map<number, { pid: number; name: string }[]>();
  for (const entry of Deno.readDirSync('/proc')) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), { pid: Number(entry.name), name }]);
    } catch { /* gone meanwhile */ }
  }
  const out: { pid: number; name: string }[] = [];
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      out.push(child);
      walk(child.pid);
    }
  };
  walk(pid);
  return out;
}

/** Sends `head` over a raw connection and waits for the server's answer or close. */
async function slowClient(port: number, head: string): Promise<{ text: string; ms: number }> {
  const conn = await Deno.connect({ hostname: '127.0.0.1', port });
  const started = Date.now();
  await conn.write(new TextEncoder().encode(head));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf).catch(() => null);
  conn.close();
  return { text: n ? new TextDecoder().decode(buf.subarray(0, n)) : '', ms: Date.now() - started };
}

Deno.test('npm run dev on its own database: export block, dev tokens, one stack per data folder, slow clients, SIGTERM', async (t) => {
  const data = await Deno.makeTempDir({ prefix: 'dev-stack-' });
  const env = {
    PROFILE_SYNC_DEV_DATA: data,
    PORT: String(freePort()),
    PROFILE_SYNC_DB_PORT: String(freePort()),
    PROFILE_SYNC_DEV_HEADERS_TIMEOUT_MS: '1000',
    PROFILE_SYNC_DEV_REQUEST_TIMEOUT_MS: '2000',
  };
  const dev = await startDev(env);
  let sql: postgres.Sql | undefined;
  try {
    const out = dev.output();
    assert.match(out, /profile-sync local stack is up/, out);

    await t.step('the banner exports what the README\'s curl lines use', () => {
      assert.match(out, new RegExp(`^  export SUPABASE_URL=${dev.url}$`, 'm'));
      assert.match(out, new RegExp(`^  export SECRET_KEY=${DEV_SECRET_KEY}$`, 'm'));
      assert.match(out, /^ {2}export SUPABASE_DB_URL=postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/m);
      assert.match(out, /user tokens\s+http:\/\/127\.0\.0\.1:\d+\/auth\/v1\/dev\/token\?user_id=/);
    });

    const dbUrl = /export SUPABASE_DB_URL=(\S+)/.exec(out)![1];
    sql = postgres(dbUrl, { max: 1, onnotice: () => {} });

    await t.step('a user token minted by the stack syncs that user through sync-profile', async () => {
      const id = await insertAuthUser(sql!, { email: 'dev-token@example.com', user_metadata: { full_name: 'Dev Token' } });
      const refused = await fetch(`${dev.url}/auth/v1/dev/token?user_id=${id}`);
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const minted = await fetch(`${dev.url}/auth/v1/dev/token?user_id=${id}`, { headers: { apikey: DEV_SECRET_KEY } });
      assert.equal(minted.status, 200);
      const { access_token } = await minted.json();
      const res = await fetch(`${dev.url}/functions/v1/sync-profile`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.deepEqual([body.profile.id, body.profile.full_name], [id, 'Dev Token']);
    });

    await t.step('a second stack on the same data says what is wrong', async () => {
      const second = await startDev({ ...env, PORT: String(freePort()), PROFILE_SYNC_DB_PORT: String(freePort()) }, false);
      const status = await second.done;
      assert.equal(status.code, 2);
      assert.match(second.output(), /another `npm run dev` is running \(pid \d+\) on the data in .*: stop it first/);
    });

    await t.step('slow headers and a slow body get 408 and a closed connection, as at the gateway', async () => {
      const [headers, body] = await Promise.all([
        slowClient(Number(env.PORT), 'POST /functions/v1/reconcile HTTP/1.1\r\nHost: x\r\n'),
        // with the admin key, so the function waits for the body rather than refusing at once
        slowClient(Number(env.PORT), `POST /functions/v1/reconcile HTTP/1.1\r\nHost: x\r\napikey: ${DEV_SECRET_KEY}\r\ncontent-length: 100\r\n\r\n{"dry`),
      ]);
      assert.match(headers.text, /^HTTP\/1\.1 408 /);
      assert.match(body.text, /^HTTP\/1\.1 408 /);
      assert.ok(headers.ms < 4000 && body.ms < 5000, `${headers.ms} ms, ${body.ms} ms`);
    });

    await t.step('SIGTERM to npm stops node, Deno and Postgres within seconds, a request in flight notwithstanding', async () => {
      const postmaster = Number((await Deno.readTextFile(`${data}/data/postmaster.pid`)).split('\n')[0]);
      const devPid = Number((await Deno.readTextFile(`${data}/dev.pid`)).trim());
      const tree = descendants(devPid);
      assert.ok(tree.some((p) => p.name.startsWith('deno')), `the functions server is among ${JSON.stringify(tree)}`);
      assert.ok(tree.some((p) => p.pid === postmaster), 'Postgres is a child of the dev process');
      // A request the functions server cannot finish: sync-profile waits for a lock this test holds.
      const id = await insertAuthUser(sql!);
      const minted = await fetch(`${dev.url}/auth/v1/dev/token?user_id=${id}`, { headers: { apikey: DEV_SECRET_KEY } });
      const { access_token } = await minted.json();
      // (a transaction left open on its own connection: Postgres stopping simply closes it)
      const locker = postgres(dbUrl, { max: 1, onnotice: () => {} });
      await locker.unsafe('begin; lock table public.profiles in access exclusive mode');
      const inFlight = fetch(`${dev.url}/functions/v1/sync-profile`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } })
        .then((r) => r.body?.cancel(), () => {});
      await new Promise((r) => setTimeout(r, 500));

      const signalled = Date.now();
      dev.child.kill('SIGTERM');
      const deadline = signalled + 10_000;
      const all = [{ pid: devPid, name: 'node' }, ...tree];
      while (all.some((p) => alive(p.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const left = all.filter((p) => alive(p.pid));
      await locker.unsafe('commit').catch(() => {});
      await locker.end({ timeout: 1 }).catch(() => {});
      await inFlight;
      assert.deepEqual(left, [], `still running ${Date.now() - signalled} ms after SIGTERM`);
      assert.ok(!alive(devPid) && !alive(postmaster));
      await settled(dev.done);
      await sql!.end().catch(() => {});
      sql = undefined;
      await assert.rejects(fetch(`${dev.url}/functions/v1/reconcile`), 'nothing listens on PORT any more');
      await assert.rejects(Deno.stat(`${data}/dev.pid`));
    });
  } finally {
    await sql?.end();
    try {
      dev.child.kill('SIGKILL');
    } catch { /* gone */ }
    await settled(dev.done);
    await Deno.remove(data, { recursive: true }).catch(() => {});
  }
});

Deno.test('npm run dev with a project\'s environment: every variable honoured, no given secret printed', async () => {
  const db = await freshDatabase('dev_env');
  const { privateKey, jwk, kid } = await newKeyPair('ES256');
  const given = {
    SUPABASE_DB_URL: db.url,
    SUPABASE_URL: 'https://abcdefghijklmnop.supabase.co',
    SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: 'sb_secret_given_by_the_project_0123456789' }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: 'sb_publishable_given_by_the_project_0123' }),
    PROFILE_SYNC_WEBHOOK_SECRET: 'v1,whsec_Z2l2ZW4tYnktdGhlLXByb2plY3QtMDEyMzQ1Njc4OQ==',
    PROFILE_SYNC_DEFAULT_ROLE: 'member',
    PORT: String(freePort()),
  };
  const dev = await startDev(given);
  try {
    const out = dev.output();
    assert.match(out, /profile-sync local stack is up/, out);
    for (const secret of ['sb_secret_given', 'sb_publishable_given', 'Z2l2ZW4tYnktdGhlLXByb2plY3Q']) {
      assert.ok(!out.includes(secret), `${secret}… printed`);
    }
    assert.match(out, /secret key\s+\(from SUPABASE_SECRET_KEYS; not shown\)/);
    assert.match(out, /JWT issuer\s+https:\/\/abcdefghijklmnop\.supabase\.co\/auth\/v1 \(from SUPABASE_URL\)/);
    assert.doesNotMatch(out, /dev\/token/);

    // a real project's token (its issuer, its key) is accepted; the role policy is the given one
    const id = await insertAuthUser(db.sql);
    const token = await sign(userClaims(`${given.SUPABASE_URL}/auth/v1`, id), privateKey, { alg: 'ES256', kid });
    const res = await fetch(`${dev.url}/functions/v1/sync-profile`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.profile.role, 'member');

    // the given secret key is the only admin key: the dev key is refused
    const status = (key: string) => fetch(`${dev.url}/functions/v1/reconcile`, { headers: { apikey: key } }).then(async (r) => (await r.body?.cancel(), r.status));
    assert.deepEqual([await status('sb_secret_given_by_the_project_0123456789'), await status(DEV_SECRET_KEY)], [200, 401]);
    const devToken = await fetch(`${dev.url}/auth/v1/dev/token?user_id=${id}`, { headers: { apikey: 'sb_secret_given_by_the_project_0123456789' } });
    assert.equal(devToken.status, 404, 'no dev tokens for a project that has its own Auth');
    await devToken.body?.cancel();
  } finally {
    dev.child.kill('SIGTERM');
    await settled(dev.done);
    await db.drop();
  }
});

Deno.test('npm run dev with SUPABASE_URL set to its own URL (the banner\'s export line): no dev JWKS served or trusted', async () => {
  const db = await freshDatabase('dev_own_url');
  const port = String(freePort());
  const dev = await startDev({ SUPABASE_DB_URL: db.url, SUPABASE_URL: `http://127.0.0.1:${port}`, PORT: port });
  try {
    assert.match(dev.output(), /profile-sync local stack is up/, dev.output());
    assert.doesNotMatch(dev.output(), /dev\/token/);
    const jwks = await fetch(`${dev.url}/auth/v1/.well-known/jwks.json`);
    await jwks.body?.cancel();
    assert.equal(jwks.status, 404, 'no dev JWKS is served');
    // a token signed with the private key in local/dev-keys.json, with the right issuer
    const id = await insertAuthUser(db.sql);
    const token = await signDevAccessToken(dev.url, id);
    const res = await fetch(`${dev.url}/functions/v1/sync-profile`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    assert.notEqual(res.status, 200, JSON.stringify(body));
    assert.ok([401, 503].includes(res.status), JSON.stringify(body));
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'nothing was synced');
  } finally {
    dev.child.kill('SIGTERM');
    await settled(dev.done);
    await db.drop();
  }
});
