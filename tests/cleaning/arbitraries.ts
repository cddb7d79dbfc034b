/**
 * Generated names and avatar URLs for the cleaning properties: fragments chosen to hit every rule
 * (escape sequences, bidi and zero-width characters, exotic whitespace; schemes, credentials,
 * numeric and private hosts, ports, forbidden characters) mixed with arbitrary Unicode text.
 * No NUL and no lone surrogates, which Postgres text cannot hold.
 * @module
 */
import fc from 'fast-check';

const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();

/** Arbitrary Unicode text (any code point but NUL and lone surrogates). */
export const unicodeText = (maxLength: number) => fc.string({ unit: 'binary', maxLength }).filter(storable);

const NAME_FRAGMENTS = [
  '\u001b[31m', '\u001b[0m', '\u001b[1;2;3H', '\u001b]0;title\u0007', '\u001b', '\u009b', '\r', '\n', '\r\n', '\t',
  '\u000b', '\f', '\u0007', '\u0008', '\u007f', '\u0085', '\u2028', '\u2029', '\u202a', '\u202e', '\u2066', '\u2069',
  '\u200b', '\u200c', '\u200d', '\u200e', '\u061c', '\u2060', '\ufeff', '\u00a0', '\u1680', '\u2003', '\u2009',
  '\u202f', '\u205f', '\u3000', ' ', '  ', 'Ada', 'Lovelace', 'é', 'e\u0301', '名前', '😀', 'x'.repeat(90),
];

/** A display name as metadata might carry it, hostile or not. */
export const rawName = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...NAME_FRAGMENTS), unicodeText(4)), { maxLength: 12 }).map((parts) => parts.join('')),
  unicodeText(40),
);

const octet = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 999 })).map(String);
const HOSTS = [
  'example.com', 'EXAMPLE.com', 'cdn.example.co.uk', 'a', 'ex_ample.com', '-x-.com', 'example.com.', 'a..b',
  'xn--bcher-kva.de', 'bücher.de', 'localhost', 'LOCALHOST', 'api.localhost', 'localhost.example.com',
  '127.0.0.1', '127.1', '2130706433', '0x7f.1', '0x7f000001', '0177.0.0.1', '127.0.0.1.', '10.1.2.3', '172.16.0.1',
  '172.31.255.255', '172.32.0.1', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '8.8.8.8', '1.2.3.4.5',
  'example.123', 'example.0x1', '[::1]', '[::ffff:127.0.0.1]', '[2001:db8::1]', '', '%31%32%37.0.0.1', 'a b.com',
];
const host = fc.oneof(
  fc.constantFrom(...HOSTS),
  fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
  fc.stringMatching(/^[a-z0-9_-]{1,8}(\.[a-z0-9_-]{1,8}){0,3}$/),
);
const PATHS = [
  '', '/', '/a.png', '/a/b?c=d&e=f', '?s=96', '#frag', '/%22x', '/"onerror="alert(1)', "/x'y", '/<img>', '/a b',
  '/a\\b', '/é/名', '/a\u200b', '/\u202e', '/\n', '/@evil.com', '/`x`', '/~user/(1)', '//double',
];
/** An avatar URL as metadata might carry it, hostile or not. */
export const rawUrl = fc.oneof(
  fc.tuple(
    fc.constantFrom('http', 'https', 'HTTPS', 'hTtP', 'ftp', 'javascript', 'data', 'file', ''),
    fc.constantFrom('://', '://', '://', ':', ':/', '//', ':\\\\'),
    fc.constantFrom('', '', '', 'user@', 'user:pass@', '@', 'a@b@'),
    host,
    fc.oneof(fc.constant(''), fc.constant(':'), fc.integer({ min: 0, max: 99_999 }).map((p) => `:${p}`)),
    fc.oneof(fc.constantFrom(...PATHS), unicodeText(6).map((s) => `/${s}`)),
    fc.constantFrom('', '', ' ', '\u00a0', '\n', '\u3000'),
  ).map(([scheme, sep, cred, h, port, path, pad]) => `${pad}${scheme}${sep}${cred}${h}${port}${path}${pad}`),
  fc.constantFrom('javascript:alert(1)', 'data:image/png;base64,AAAA', 'https://x/"onerror="alert(1)'),
  fc.tuple(fc.constant('https://example.com/'), fc.integer({ min: 2000, max: 2100 })).map(([p, n]) => p + 'a'.repeat(n - p.length)),
  unicodeText(30),
);
