/**
 * In a real browser: headless Chromium (the binary inside the npm package @sparticuz/chromium,
 * unpacked offline on first use; driven by playwright-core) loads the
 * example page from one origin, signs in with a dev token, and supabase-js's functions.invoke
 * reaches sync-profile on the stack's origin; the profile shown on the page is asserted.
 * @module
 */
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { DEV_PUBLISHABLE_KEY } from '../../local/dev-keys.ts';
import { serveExample } from '../../examples/web/server.ts';
import { chromiumPath, CHROMIUM_ARGS } from '../helpers/chromium.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';

Deno.test('example page: sign-in, functions.invoke across origins, profile shown', async (t) => {
  const executablePath = await chromiumPath();
  const db = await freshDatabase('sp_browser');
  const stack = await startTestStack(db.url);
  const example = serveExample({ supabaseUrl: stack.supabaseUrl, publishableKey: DEV_PUBLISHABLE_KEY });
  // The control: a cross-origin endpoint that answers without CORS headers.
  let controlHits = 0;
  const control = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, () => {
    controlHits++;
    return Response.json({ ok: true });
  });
  const userDataDir = await Deno.makeTempDir({ prefix: 'sp-chromium-' });
  let browser: BrowserContext | undefined;
  try {
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const page = browser.pages()[0] ?? await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const invokes: Promise<{ url: string; status: number; origin?: string }>[] = [];
    page.on('response', (res) => {
      if (!res.url().includes('/functions/v1/')) return;
      invokes.push(
        res.request().allHeaders().then((h) => ({ url: res.url(), status: res.status(), origin: h.origin })),
      );
    });
    assert.notEqual(new URL(example.url).origin, new URL(stack.url).origin);

    const id = await insertAuthUser(db.sql, {
      email: 'grace@example.com',
      ...provider.google('Grace Hopper'),
    });

    await t.step('after SIGNED_IN the page invokes sync-profile and shows the profile', async () => {
      await page.goto(`${example.url}/dev-sign-in?user_id=${id}`);
      await page.waitForSelector('#status:is([data-state="synced"], [data-state="error"])', {
        timeout: 20_000,
      });
      const refusals = stack.logs.filter((l) => l.includes('request refused')).join('\n');
      assert.equal(await page.textContent('#status'), 'Profile synced.', refusals);
      assert.equal(await page.getAttribute('#profile', 'data-user-id'), id);
      const field = (name: string) => page.textContent(`#profile dd[data-field="${name}"]`);
      assert.deepEqual(
        [await field('full_name'), await field('email'), await field('provider'), await field('role')],
        ['Grace Hopper', 'grace@example.com', 'google', 'user'],
      );
      assert.equal(
        await page.getAttribute('#avatar', 'src'),
        'https://lh3.googleusercontent.com/a/photo.jpg',
      );
    });

    await t.step('the call crossed origins and created the profile', async () => {
      assert.deepEqual(await Promise.all(invokes), [{
        url: `${stack.url}/functions/v1/sync-profile`,
        status: 200,
        origin: example.url,
      }]);
      const [row] = await db.sql`select email, full_name from public.profiles where id = ${id}`;
      assert.deepEqual({ ...row }, { email: 'grace@example.com', full_name: 'Grace Hopper' });
    });

    await t.step('an error response is readable across origins (CORS on errors)', async () => {
      const result = await page.evaluate(async ([url, key]) => {
        // deno-lint-ignore no-explicit-any
        const client = (globalThis as any).supabase.createClient(url, key, {
          auth: { persistSession: false },
        });
        const { error } = await client.functions.invoke('sync-profile', {
          headers: { Authorization: 'Bearer not-a-token' },
        });
        return {
          name: error?.name,
          status: error?.context?.status,
          code: (await error?.context?.json())?.error?.code,
        };
      }, [stack.supabaseUrl, DEV_PUBLISHABLE_KEY]);
      assert.deepEqual(result, { name: 'FunctionsHttpError', status: 401, code: 'invalid_token' });
    });

    await t.step('control: this browser blocks a cross-origin response without CORS headers', async () => {
      const outcome = await page.evaluate(async (url) => {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: 'x',
          });
          return `readable ${res.status}`;
        } catch (err) {
          return (err as Error).name;
        }
      }, `http://127.0.0.1:${control.addr.port}/`);
      assert.equal(outcome, 'TypeError');
      assert.ok(controlHits > 0, 'the control server was reached');
    });

    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await control.shutdown();
    await example.close();
    await stack.close();
    await db.drop();
    await Deno.remove(userDataDir, { recursive: true });
  }
});
