/**
 * Standard Webhooks signature verification in two steps, cheapest first: the headers alone
 * (present, bounded, a timestamp within 5 minutes, a well-formed `v1,` signature, a JSON content
 * type) before any body is read; then HMAC-SHA256 of `id.timestamp.body` with the platform's WebCrypto (keys imported
 * once), against every configured secret, so a secret can be rotated without refusals. Between
 * the two, the body is admitted and read as body-admission.ts says (rate, fair order, deadline).
 * @module
 */
import type { Context } from 'hono';
import { createBodyAdmission, readDeadlineMs } from './body-admission.ts';
import { ConfigError } from './config.ts';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';
import { decodeText, readBody } from './http.ts';

/** Standard Webhooks' tolerance: a timestamp more than 5 minutes off is refused. */
export const TOLERANCE_SECONDS = 5 * 60;
/** webhook-id: Auth and our trigger send a uuid or `msg_<uuid>`; anything this long is not one. */
const MAX_ID_LENGTH = 256;
/** At most this many `v1,` signatures are tried (rotation signs with two or three secrets). */
const MAX_SIGNATURES = 8;
const MAX_SIGNATURE_HEADER = 1024;

/** What the headers say, once they passed the cheap checks. */
export type SignedHeaders = { id: string; timestamp: string; signatures: Uint8Array[] };

export type WebhookVerifier = {
  /**
   * Checks the headers only; throws AppError 401 (missing_signature / invalid_signature), then
   * 415 unsupported_media_type for a body that is not declared JSON.
   */
  checkHeaders(headers: Headers, nowMs?: number): SignedHeaders;
  /** The bytes signed before the body: `id.timestamp.`. */
  prefix(signed: SignedHeaders): Uint8Array;
  /**
   * Checks the HMAC of `message` (prefix then body) against every secret; throws AppError 401
   * invalid_signature. The caller builds the message in place, so a body is never copied.
   */
  verify(signed: SignedHeaders, message: Uint8Array): Promise<void>;
};

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * pg_net, Database Webhooks and Auth hooks all send `application/json` (a charset parameter at
 * most); any other declared type (text/plain, a form: what a browser may send cross-origin without
 * a preflight) is no payload of theirs. No header at all declares nothing and is read as JSON, as
 * before (a sender that posts raw bytes). A header sent twice arrives joined by a comma: accepted
 * when every value is JSON.
 */
const isJson = (type: string | null) =>
  type === null || type.split(',').every((t) => /^application\/json\s*(;|$)/i.test(t.trim()));

function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  try {
    const binary = atob(text.padEnd(Math.ceil(text.length / 4) * 4, '='));
    return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The `v1,<base64>` entries of a webhook-signature header that decode to 32 bytes. */
function parseSignatures(header: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  // Entries are separated by spaces; Auth joins them with ", " (so an entry may end in a comma).
  for (const entry of header.split(' ')) {
    const [version, value] = entry.split(',');
    if (version !== 'v1' || !value) continue;
    // An HMAC-SHA256 in canonical base64 is 44 characters; anything else cannot match.
    const bytes = value.length === 44 ? decodeBase64(value) : undefined;
    if (bytes?.byteLength === 32) out.push(bytes);
    if (out.length === MAX_SIGNATURES) break;
  }
  return out;
}

/**
 * A verifier for the given secrets (`whsec_<base64>`, as Config holds them). A secret that does
 * not decode is a ConfigError at start-up, naming its position but never its value.
 */
export function createWebhookVerifier(secrets: readonly string[]): WebhookVerifier {
  if (secrets.length === 0) throw new ConfigError('PROFILE_SYNC_WEBHOOK_SECRET is not set');
  const rawKeys = secrets.map((secret, i) => {
    const bytes = decodeBase64(secret.replace(/^whsec_/, ''));
    if (!bytes || bytes.byteLength === 0) {
      throw new ConfigError(`PROFILE_SYNC_WEBHOOK_SECRET: secret #${i + 1} is not valid base64 after whsec_`);
    }
    return bytes;
  });
  // Imported once, on first use (importKey is async), then shared by every request.
  let keys: Promise<CryptoKey[]> | undefined;
  const importKeys = () =>
    keys ??= Promise.all(rawKeys.map((raw) =>
      crypto.subtle.importKey('raw', raw as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    ));
  const encoder = new TextEncoder();

  return {
    checkHeaders(headers, nowMs = Date.now()) {
      const id = headers.get('webhook-id');
      const timestamp = headers.get('webhook-timestamp');
      const signature = headers.get('webhook-signature');
      if (!id || !timestamp || !signature) throw new AppError('missing_signature');
      if (id.length > MAX_ID_LENGTH || signature.length > MAX_SIGNATURE_HEADER || !/^\d{1,12}$/.test(timestamp)) {
        throw new AppError('invalid_signature', { detail: 'malformed webhook headers' });
      }
      if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) {
        throw new AppError('invalid_signature', { detail: 'timestamp outside the 5-minute tolerance' });
      }
      const signatures = parseSignatures(signature);
      if (signatures.length === 0) throw new AppError('invalid_signature', { detail: 'no v1 signature' });
      if (!isJson(headers.get('content-type'))) throw new AppError('unsupported_media_type');
      return { id, timestamp, signatures };
    },

    prefix: (signed) => encoder.encode(`${signed.id}.${signed.timestamp}.`),

    async verify(signed, message) {
      for (const key of await importKeys()) {
        for (const signature of signed.signatures) {
          // crypto.subtle.verify copies the message when called and compares in constant time.
          if (await crypto.subtle.verify('HMAC', key, signature as BufferSource, message as BufferSource)) return;
        }
      }
      throw new AppError('invalid_signature');
    },
  };
}

/**
 * Unverified body bytes read per second: 8 × what pg_net delivers at the benchmark's rate
 * (~1,800 deliveries/s of ~1 KiB), and a 256 KiB body still waits only ~16 ms for its turn.
 */
export const UNVERIFIED_BYTES_PER_SECOND = 16 * 1024 * 1024;

/**
 * Reads a signed request's body (at most maxBytes) and returns it as text once its signature is
 * verified: the headers are checked before a byte is read (401, 415; 413 on a Content-Length
 * over the cap), the read is admitted at the unverified-body rate in a fair order, and must end
 * within its deadline (408 request_timeout), so a slow sender holds nothing a real one waits for.
 */
export function createSignedBodyReader(
  verifier: WebhookVerifier,
  options: { maxBytes: number; bytesPerSecond?: number },
): (c: Context) => Promise<string> {
  const { maxBytes } = options;
  const admission = createBodyAdmission({ maxBytes, bytesPerSecond: options.bytesPerSecond ?? UNVERIFIED_BYTES_PER_SECOND });
  return async (c) => {
    const signed = verifier.checkHeaders(c.req.raw.headers);
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (declared > maxBytes) throw new AppError('payload_too_large'); // before waiting for a turn
    const bytes = Number.isFinite(declared) ? declared : maxBytes;
    await admission.admit(bytes, c.req.raw.signal);
    // The signed message, `id.timestamp.` then the body, built as the body is joined.
    const prefix = verifier.prefix(signed);
    const message = await readBody(c, maxBytes, { prefix, timeoutMs: readDeadlineMs(bytes) });
    await verifier.verify(signed, message);
    return decodeText(message.subarray(prefix.byteLength));
  };
}

/** Fails start-up of the deployed function when no secret is configured (fail closed, say why). */
export function requireWebhookSecrets(config: Config): void {
  if (config.webhookSecrets.length === 0) {
    throw new ConfigError(
      'PROFILE_SYNC_WEBHOOK_SECRET is not set: auth-webhook refuses to start without it. ' +
        'Set it with `supabase secrets set PROFILE_SYNC_WEBHOOK_SECRET=v1,whsec_<base64>` ' +
        '(the same value as the Vault secret profile_sync_webhook_secret).',
    );
  }
}
