/**
 * Every `profile-sync` command a user copies from the README, docs/ or CONTRIBUTING.md works as
 * written: each one in an `sh` block, and each inline `npx profile-sync …` / `cli/bin.mjs …`, is
 * checked with the CLI's own parser (cli/main.ts `usageError`, what `main` runs before anything).
 */
import assert from 'node:assert/strict';
import { usageError } from '../../cli/main.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCS = ['README.md', 'CONTRIBUTING.md', ...[...Deno.readDirSync(`${ROOT}docs`)].map((e) => `docs/${e.name}`)]
  .filter((f) => f.endsWith('.md'))
  .sort();

type Command = { where: string; argv: string[]; text: string };

/** Shell words and operators of one line; an expansion ($VAR, "$VAR", $(…)) stands for one value. */
export function shellWords(text: string): string[] {
  const line = text.replaceAll(/\$\([^()]*\)/g, 'VALUE').replaceAll(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, 'VALUE');
  const words: string[] = [];
  let word: string | undefined;
  const add = (text: string) => (word = (word ?? '') + text);
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      add(line.slice(i + 1, end < 0 ? undefined : end));
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) add(line[j] === '\\' ? line[++j] : line[j]);
      i = j;
    } else if (c === '\\') add(line[++i] ?? '');
    else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) break;
    else if (/[;&|]/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      words.push(line[i + 1] === c ? c + c : c);
      if (line[i + 1] === c) i++;
    } else add(c);
  }
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * The profile-sync invocations in a line: `[VAR=… ] npx [flags] profile-sync …` or `node …/cli/bin.mjs …`,
 * with at least one argument (the bare name is a mention of the program, not a command to run).
 */
function invocations(line: string): string[][] {
  const found: string[][] = [];
  const segments: string[][] = [[]];
  for (const word of shellWords(line)) {
    if (['&&', '||', ';', '|', '&'].includes(word)) segments.push([]);
    else segments.at(-1)!.push(word);
  }
  for (const words of segments) {
    let i = 0;
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++;
    if (words[i] === 'npx') {
      i++;
      while (i < words.length && words[i].startsWith('-')) i++;
      if (/^profile-sync(@.+)?$/.test(words[i] ?? '')) found.push(words.slice(i + 1));
    } else if (words[i] === 'node' && /(^|\/)cli\/bin\.mjs$/.test(words[i + 1] ?? '')) {
      found.push(words.slice(i + 2));
    }
  }
  return found.filter((argv) => argv.length > 0);
}

function commandsIn(file: string): Command[] {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const commands: Command[] = [];
  const fence = /^([ \t]*)```([^\n]*)\n([\s\S]*?)^\1```/gm;
  for (const block of text.matchAll(fence)) {
    if (!/^(sh|bash|shell|console)\b/.test(block[2])) continue;
    const start = lineOf(block.index!) + 1;
    const lines = block[3].replaceAll(/\\\n/g, ' ').split('\n');
    lines.forEach((line, n) => {
      for (const argv of invocations(line)) commands.push({ where: `${file}:${start + n}`, argv, text: line.trim() });
    });
  }
  const prose = text.replaceAll(fence, (block) => block.replaceAll(/[^\n]/g, ' '));
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) {
    if (!/npx (-\S+ )*profile-sync|cli\/bin\.mjs/.test(span[1])) continue;
    for (const argv of invocations(span[1])) commands.push({ where: `${file}:${lineOf(span.index!)}`, argv, text: span[1] });
  }
  return commands;
}

Deno.test('the shell words of a documented command', () => {
  assert.deepEqual(shellWords(`SUPABASE_DB_URL="$DB_URL" npx profile-sync doctor --json # why`), [
    'SUPABASE_DB_URL=VALUE',
    'npx',
    'profile-sync',
    'doctor',
    '--json',
  ]);
  assert.deepEqual(shellWords(`export S="v1,whsec_$(openssl rand -base64 32)" && a 'b c'|d`), [
    'export',
    'S=v1,whsec_VALUE',
    '&&',
    'a',
    'b c',
    '|',
    'd',
  ]);
});

Deno.test('the parser the docs are checked with refuses what the CLI refuses', () => {
  assert.equal(usageError(['reconcile', '--dry-run']), undefined);
  assert.equal(usageError(['init', '--db-url', 'VALUE', '--table', 'public.user_profiles', '--yes']), undefined);
  assert.match(usageError(['reconcile', '[--dry-run]']) ?? '', /unexpected argument/);
  assert.match(usageError(['status', '--dry-run']) ?? '', /belong to `reconcile`/);
  assert.match(usageError(['init', '--dbrul', 'x']) ?? '', /unknown option: --dbrul/);
  assert.match(usageError(['generate', '--force']) ?? '', /unknown option: --force/);
  assert.match(usageError(['reconcile', '--batch-size', 'N']) ?? '', /--batch-size must be/);
  assert.match(usageError(['sync', '<user-id>', 'x']) ?? '', /unexpected argument/);
  assert.match(usageError(['resync']) ?? '', /unknown command: resync/);
});

Deno.test('every profile-sync command in the README and docs parses as the CLI parses it', () => {
  const commands = DOCS.flatMap(commandsIn);
  const readme = commands.filter((c) => c.where.startsWith('README.md'));
  assert.ok(readme.length >= 10, `only ${readme.length} commands found in the README`);
  assert.ok(commands.length >= 20, `only ${commands.length} commands found in the docs`);
  const refused = commands.flatMap((c) => {
    const error = usageError(c.argv);
    return error ? [`${c.where}: \`${c.text}\`: ${error.split('\n')[0]}`] : [];
  });
  assert.deepEqual(refused, []);
});
