-- Store the specs $2 of the tasks $1, replacing those stored under the same names. Rows are
-- written in name order, so two workers publishing the same tasks at once take turns rather
-- than deadlock.
INSERT INTO {schema}.task_specs AS t (name, spec)
SELECT s.name, s.spec
FROM unnest($1::text[], $2::bytea[]) AS s(name, spec)
ORDER BY s.name
ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, published_at = now();
