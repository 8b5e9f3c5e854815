-- Vacuum passes always clean the claim's index (issue 21, target 6: the drain with a million
-- finished jobs stored).
--
-- A claim moves a job out of 'queued' with an UPDATE that cannot be HOT (state is in the
-- partial indexes' predicates), so the job's entry in jobs_queued_idx stays behind, pointing
-- at a dead row version, until a VACUUM removes it. The claim's index scan (a plain index
-- scan, so it marks such entries LP_DEAD and later scans skip them without reading the
-- heap) still reads every leaf page that holds them, and they sort before every live job:
-- a claim costs one leaf page per ~180 jobs claimed since the last VACUUM that cleaned the
-- indexes (1,800 buffers for 300,000 of them, against 5 right after a VACUUM).
--
-- Since Postgres 14 a VACUUM skips the indexes when fewer than 2% of the table's pages hold
-- dead rows ("index scan bypassed"). On a table that keeps many finished jobs the jobs
-- claimed since the last pass sit on far fewer pages than that, so with the default
-- (vacuum_index_cleanup = auto) autovacuum came by, bypassed the indexes, and left the dead
-- entries at the head of jobs_queued_idx for the next pass, which bypassed them again.
-- vacuum_index_cleanup = on makes every pass (autovacuum's and a plain VACUUM) clean them.
-- Its cost: every pass reads each index of the table whole, also when few rows are dead.
--
-- The pass itself is triggered by dead rows counted against the table's size (0001: 2%),
-- which lets a table with millions of finished jobs stored carry tens of thousands of dead
-- claim entries between passes. A fixed threshold with a small fraction keeps that near
-- 10,000 whatever is stored; a busy queue then gets a pass at every autovacuum_naptime (a
-- server setting, 1 minute by default), which bounds the dead entries to what the queue
-- claims in that time. See docs/operations.md.
ALTER TABLE {schema}.jobs SET (
    vacuum_index_cleanup = on,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_scale_factor = 0.005
);
