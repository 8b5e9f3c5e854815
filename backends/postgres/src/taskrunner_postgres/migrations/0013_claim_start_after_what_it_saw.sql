-- A claim's start is stamped after what the claim saw (issue: a dependent's recorded start
-- could precede its dependency's recorded end).
--
-- claim_jobs (0007) stamped started_at with now(), the start of its transaction. Its rounds
-- each read the jobs with a snapshot of their own, taken later: a round could claim a job
-- that a dependency's end, committed after that instant, had just released, and record a
-- start a few milliseconds before the dependency's recorded end, though the job ran after it.
-- clock_timestamp(), read by the UPDATE that claims the row, comes after that statement's
-- snapshot, so after the commit of every end the claim saw, and after that end's now().
-- claim_flowed (0007) already stamps its starts with clock_timestamp(), read after the round
-- that found its candidates. The lease still counts from now(), as heartbeats and reclaims
-- judge leases: the statement's duration is well within the heartbeat's margin, and a lease
-- that ends a few milliseconds early errs on the side of rescuing the job.
--
-- The function is the same otherwise: its definition is rewritten in place rather than
-- written out again; the rewrite fails if the line it changes is not there exactly once.
DO $$
DECLARE
    old text := pg_get_functiondef(
        '{schema}.claim_jobs(text[], integer, text, float8)'::regprocedure);
    stamp constant text := 'started_at = now(),';
BEGIN
    IF array_length(string_to_array(old, stamp), 1) <> 2 THEN
        RAISE EXCEPTION 'claim_jobs does not stamp its starts as 0013 expects';
    END IF;
    EXECUTE replace(old, stamp, 'started_at = clock_timestamp(),');
END
$$;
