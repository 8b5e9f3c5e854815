-- Adding a row of changes to a tally row (tidy.sql folding rows into slot 0).
ON CONFLICT (queue, minute, slot) DO UPDATE
    SET waiting = t.waiting + excluded.waiting,
        unfinished = t.unfinished + excluded.unfinished,
        scheduled = t.scheduled + excluded.scheduled,
        succeeded = t.succeeded + excluded.succeeded,
        failed = t.failed + excluded.failed,
        cancelled = t.cancelled + excluded.cancelled,
        ended_succeeded = t.ended_succeeded + excluded.ended_succeeded,
        ended_failed = t.ended_failed + excluded.ended_failed,
        ended_retry = t.ended_retry + excluded.ended_retry,
        ended_cancelled = t.ended_cancelled + excluded.ended_cancelled,
        ended_released = t.ended_released + excluded.ended_released,
        ended_lost = t.ended_lost + excluded.ended_lost
