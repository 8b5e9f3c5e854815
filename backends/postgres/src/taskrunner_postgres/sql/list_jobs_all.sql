-- Up to $1 jobs of any queue and state, newest first: the primary key read backwards.
-- $1 how many at most, $2 the task (NULL: any), ids below $3 and from $4 on, enqueued from
-- $5 and before $6 (epoch seconds, NULL: unbounded).
SELECT {record}
FROM {schema}.jobs AS j
WHERE {list_where}
ORDER BY j.id DESC
LIMIT $1;
