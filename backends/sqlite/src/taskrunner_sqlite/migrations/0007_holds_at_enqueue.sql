-- Holds at enqueue, as on the other backends: a job stored queued with a limit key, due now
-- and waiting on nothing, is set aside at once (`parked`, held for its limit) when its key
-- already has jobs set aside at its priority or better, or when at least its max + 100
-- queued jobs of its key come before it in claim order (sql/hold_new.sql). A claim would
-- only set it aside later, one write per job, so that a backlog of 10,000 jobs of one key
-- stored before any worker starts cost the first claim 10,000 writes; it now costs it about
-- 100. A job set aside at enqueue comes back as one set aside by a claim does: when a slot
-- of its key frees (an end, a reclaim or a cancel of one of the jobs ahead of it refills).
-- This index holds the queued jobs of limit keys that are not set aside, in claim order, so
-- the enqueue counts those ahead of it along at most max + 100 entries.
CREATE INDEX jobs_limit_queued ON jobs (queue, limit_key, priority, run_at, seq)
    WHERE state = 'queued' AND parked = 0 AND limit_key IS NOT NULL;
