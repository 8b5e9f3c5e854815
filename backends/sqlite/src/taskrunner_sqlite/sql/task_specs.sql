-- the stored specs: of the tasks named in the JSON array ?1, or every one when it is NULL
SELECT name, spec FROM task_specs
WHERE ?1 IS NULL OR name IN (SELECT value FROM json_each(?1))
