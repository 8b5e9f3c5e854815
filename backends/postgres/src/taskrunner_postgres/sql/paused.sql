-- The paused queues.
SELECT p.queue FROM {schema}.paused_queues AS p;
