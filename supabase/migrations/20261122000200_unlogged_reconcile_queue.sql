-- The reconcile queue holds ids a pass can find again: writing it to the WAL bought nothing but
-- time (a tenth of reconcile_begin at 100,000 missing profiles, docs/benchmarks.md). Unlogged, a
-- crash empties it; the run it belonged to then resumes over an empty queue and completes, and
-- the next pass (the next scheduled reconcile) queues whatever is still drifted.
alter table profile_sync.reconcile_queue set unlogged;
