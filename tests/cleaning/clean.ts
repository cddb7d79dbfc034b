/**
 * What a clean display name and a safe avatar URL are: the definition, in pure TypeScript, that
 * `profile_sync.clean_name` / `profile_sync.safe_avatar_url` (supabase/schemas/30_text_normalisers.sql) implement
 * in SQL and tests/cleaning/ checks them against, input for input. Both give null for a value
 * that is not acceptable (blank after cleaning counts as absent).
 *
 * Every pattern here is written so Postgres' regex engine reads it the same way: explicit
 * character lists (no \s, no Unicode property classes), one meaning per match.
 * @module
 */
// deno-lint-ignore-file no-control-regex -- control characters are what these patterns are for

/** Longest display name, in characters (code points), after cleaning. */
export const NAME_MAX = 200;
/** Longest avatar URL, in characters. */
export const AVATAR_URL_MAX = 2048;

/** ANSI CSI sequences: ESC [ parameters intermediates final (colours, cursor moves, clears). */
const CSI = /\u001b\[[0-?]*[ -/]*[@-~]/g;
/** Line-like controls and separators: each becomes a space (so "Ada\nLovelace" keeps its word break). */
const LINE_BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
/**
 * Invisible or disruptive characters, removed: C0 and C1 controls (BEL, ESC, …), DEL, zero-width
 * space, LRM/RLM, ALM, bidi embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069),
 * word joiner, BOM. The zero-width joiner and non-joiner (U+200C, U+200D) stay inside a name:
 * emoji sequences (🧑‍🚀) and Persian or Indic spellings need them; at its ends they are trimmed
 * (JOINER_ENDS), so they can never make a blank name count.
 */
const INVISIBLE = /[\u0001-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;
const JOINER_ENDS = /^[ \u200c\u200d]+|[ \u200c\u200d]+$/g;
/** Unicode White_Space (after the line breaks above became spaces): runs become one space. */
const SPACES = /[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/g;

/** Cuts to `max` code points (Postgres' left() counts characters, not UTF-16 units). */
function cut(s: string, max: number): string {
  let count = 0;
  let end = 0;
  for (const ch of s) {
    if (count === max) return s.slice(0, end);
    count++;
    end += ch.length;
  }
  return s;
}

/**
 * A display name as a profile may hold it: no control, escape, bidi or zero-width characters
 * (joiners only inside it);
 * whitespace of any kind collapsed to single spaces and trimmed; at most NAME_MAX characters;
 * null when nothing is left. NUL (which Postgres text cannot hold) is removed too.
 */
export function cleanName(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const s = raw.replace(CSI, '').replace(LINE_BREAKS, ' ').replace(/\u0000/g, '').replace(INVISIBLE, '')
    .replace(SPACES, ' ').replace(JOINER_ENDS, '');
  const name = cut(s, NAME_MAX).replace(JOINER_ENDS, '');
  return name === '' ? null : name;
}

/** Unicode White_Space characters, trimmed from both ends of a URL. */
const TRIM = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
/**
 * Never in an avatar URL: whitespace and controls of any kind (C0, space, DEL, C1, NBSP, the
 * U+2000 block with zero-width and bidi characters, U+2028–U+202F, U+205F–U+206F, U+3000, BOM),
 * quotes, angle brackets and backslash (which a browser reads as a slash).
 */
const FORBIDDEN = /[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"'`<>\\]/;
/** http(s) scheme, then the authority up to the path, query or fragment. */
const START = /^https?:\/\/([^/?#]*)/i;
/** An authority of host labels (ASCII letters, digits, _ and -; an optional final dot) and port. */
const AUTHORITY = /^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)(?::([0-9]{1,5}))?$/;
/** A last label a URL parser reads as a number, making the host an IPv4 address. */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/;
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
/** The one IPv4 spelling accepted: four decimal octets without leading zeros. */
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/**
 * Whether an IPv4 address (a canonical dotted quad) is one a server must not be sent to: this
 * network (0/8), private (10/8, 172.16/12, 192.168/16), shared (100.64/10), loopback (127/8),
 * link-local (169.254/16, the cloud metadata address among them), multicast and reserved (≥ 224).
 */
export function isBlockedIpv4(quad: string): boolean {
  const [a, b] = quad.split('.').map(Number);
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168);
}

/**
 * An avatar URL as a profile may hold it, or null: http or https; after trimming whitespace, no
 * whitespace, control, quote, angle bracket or backslash anywhere; no credentials (`user@`); a
 * host of ASCII labels (IDN hosts in punycode) with an optional port ≤ 65535; not localhost;
 * an IP host only as a canonical dotted quad outside the blocked ranges (a number in any other
 * spelling, 2130706433 or 0x7f.1, is refused, as are IPv6 literals: no avatar host needs one);
 * at most AVATAR_URL_MAX characters. The URL is returned as given (trimmed), not rewritten.
 */
export function safeAvatarUrl(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const url = raw.replace(TRIM, '');
  if (url === '' || [...url].length > AVATAR_URL_MAX || FORBIDDEN.test(url)) return null;
  const authority = START.exec(url)?.[1];
  if (authority === undefined) return null;
  const parts = AUTHORITY.exec(authority);
  if (!parts) return null; // credentials (@), IPv6 literals, empty or odd hosts
  if (parts[2] !== undefined && Number(parts[2]) > 65535) return null;
  const host = parts[1].toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return null;
  const last = host.slice(host.lastIndexOf('.') + 1);
  if (NUMERIC_LABEL.test(last) && (!DOTTED_QUAD.test(host) || isBlockedIpv4(host))) return null;
  return url;
}
