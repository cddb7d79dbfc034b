/**
 * JSON-line logging with redaction: one object per line; keys that name secrets or tokens, and
 * values that look like JWTs or Supabase secret keys, are replaced before anything is written.
 * @module
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;
export type Logger = {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
};

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /pass(word)?|token|secret|authorization|apikey|api_key|signature|cookie|^key$|_key$/i;
const SECRET_VALUE = /(eyJ[\w-]+\.[\w-]+\.[\w-]*)|(sb_secret_[\w-]+)|(whsec_[A-Za-z0-9+/=]+)/g;
const REDACTED = '[redacted]';

/** A deep copy with secret keys and secret-looking strings replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return value.replace(SECRET_VALUE, REDACTED);
  if (value instanceof Error) {
    const out: Fields = { name: value.name, message: redact(value.message, depth + 1) };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = redact(value.cause, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Fields = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
    return out;
  }
  return value;
}

export function createLogger(
  options: { level?: Level; sink?: (line: string) => void; base?: Fields } = {},
): Logger {
  const min = ORDER[options.level ?? 'info'];
  const sink = options.sink ?? ((line: string) => console.log(line));
  const base = options.base ?? {};
  const write = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    const entry = redact({ ts: new Date().toISOString(), level, msg, ...base, ...fields }) as Fields;
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}
