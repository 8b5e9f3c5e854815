-- The queues that hold jobs or saw attempts end lately.
SELECT DISTINCT t.queue FROM {schema}.tallies AS t;
