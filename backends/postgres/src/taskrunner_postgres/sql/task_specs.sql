-- The stored specs: of the tasks named in $1, or every one when $1 is NULL.
SELECT t.name, t.spec
FROM {schema}.task_specs AS t
WHERE $1::text[] IS NULL OR t.name = ANY($1::text[]);
