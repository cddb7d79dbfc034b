// Postgres settings as Supabase configures them, for the servers the tests and the benchmark start
// (local/pg15.mjs, bench/lib/cluster.mjs): one definition, so what we measure is what we test.

/**
 * Postgres as Supabase configures its smallest paid compute (Micro: 2 vCPU, 1 GB), the least a
 * project with a million users runs on (the Free plan stops at 50,000 monthly active users).
 * Supabase tunes these per compute size; the Micro values as a Supabase engineer published them
 * (gist egor-romanov/323e2847851bbd758081511785573c08, 2023-07), and Supabase's wal_level.
 * Stock Postgres (shared_buffers 128MB, max_wal_size 1GB) is a smaller database than any paid
 * Supabase project: at a million users the core's indexes outgrow its buffers (bench/notes.md).
 */
export const SUPABASE_MICRO_SETTINGS = {
  shared_buffers: '256MB',
  effective_cache_size: '768MB',
  maintenance_work_mem: '64MB',
  work_mem: '3500kB',
  wal_buffers: '7864kB',
  wal_level: 'logical',
  checkpoint_completion_target: '0.9',
  max_wal_size: '4GB',
  min_wal_size: '1GB',
  random_page_cost: '1.1',
  effective_io_concurrency: '200',
  max_worker_processes: '4',
  max_parallel_workers: '2',
  max_parallel_workers_per_gather: '1',
  max_parallel_maintenance_workers: '1',
};

/**
 * What Supabase's image sets that matters to our plans (its postgresql.conf): JIT on, compiled by
 * LLVM, at the stock thresholds (jit_above_cost 100000); pg_cron preloaded for database `postgres`
 * (so a test database has pg_cron available but not loadable, as any database but that one).
 */
export const SUPABASE_JIT_SETTINGS = {
  jit: 'on',
  jit_provider: 'llvmjit',
  shared_preload_libraries: 'pg_cron',
  'cron.database_name': 'postgres',
};
