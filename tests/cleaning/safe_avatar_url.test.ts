/**
 * What a safe avatar URL is (tests/cleaning/clean.ts safeAvatarUrl), as properties: whatever it accepts
 * a browser's URL parser reads as http(s), without credentials, on a host that is no loopback,
 * private, link-local or metadata address however it was spelt, with nothing that could break
 * out of an attribute; and it returns the URL as given.
 */
// deno-lint-ignore-file no-control-regex -- control characters are what these patterns are for
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AVATAR_URL_MAX, isBlockedIpv4, safeAvatarUrl } from './clean.ts';
import { rawUrl } from './arbitraries.ts';

Deno.test('safeAvatarUrl: examples from the attack run and from providers', () => {
  const refused = [
    'javascript:alert(1)', 'data:image/png;base64,AAAA', 'https://x/"onerror="alert(1)', "https://x/'", 'https://x/<b>',
    'https://x/a b', 'https://x/a\\b', 'http://169.254.169.254/latest/meta-data/', 'http://127.0.0.1/', 'http://127.1/',
    'http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/',
    'http://10.0.0.1/a.png', 'http://192.168.1.1/', 'http://172.16.0.1/', 'http://0.0.0.0/', 'http://localhost:3000/a',
    'http://user:pass@example.com/', 'https://example.com@evil.com/', 'https://example.com:99999/', 'ftp://example.com/a',
    'https:///a.png', 'https://ex\u200bample.com/', `https://example.com/${'a'.repeat(2100)}`, '', '   ', null,
  ];
  for (const url of refused) assert.equal(safeAvatarUrl(url), null, String(url).slice(0, 60));
  const accepted = [
    'https://lh3.googleusercontent.com/a/ACg8ocK=s96-c', 'https://avatars.githubusercontent.com/u/1?v=4',
    'https://cdn.discordapp.com/avatars/1/abc.png', 'http://example.com:8080/a.png#x', 'HTTPS://EXAMPLE.COM/A.PNG',
    'http://8.8.8.8/a.png', 'http://172.32.0.1/', 'https://example.com/%22quoted%22', 'https://xn--bcher-kva.de/a',
  ];
  for (const url of accepted) assert.equal(safeAvatarUrl(url), url);
  assert.equal(safeAvatarUrl('  https://example.com/a.png\n'), 'https://example.com/a.png');
});

Deno.test('safeAvatarUrl: what it accepts, a browser reads as a safe http(s) URL', () => {
  let accepted = 0;
  fc.assert(
    fc.property(rawUrl, (raw) => {
      const url = safeAvatarUrl(raw);
      if (url === null) return;
      accepted++;
      assert.ok(raw.includes(url), 'returned as given');
      assert.ok([...url].length <= AVATAR_URL_MAX);
      assert.ok(!/[\s"'`<>\\\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/.test(url));
      const parsed = new URL(url); // throws if a browser could not parse it
      assert.ok(parsed.protocol === 'http:' || parsed.protocol === 'https:');
      assert.equal(parsed.username + parsed.password, '');
      const host = parsed.hostname;
      assert.ok(!host.startsWith('['), 'no IPv6 literal');
      assert.ok(host !== 'localhost' && !host.endsWith('.localhost'));
      if (/^[0-9.]+$/.test(host)) assert.ok(!isBlockedIpv4(host), `a blocked address: ${host}`);
    }),
    { numRuns: 5000 },
  );
  assert.ok(accepted > 250, `only ${accepted} of 5000 generated URLs were accepted: the property says little`);
});
