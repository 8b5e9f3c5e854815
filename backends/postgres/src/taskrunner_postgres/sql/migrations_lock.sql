-- One migration run at a time per schema, across every process ($1: the schema name).
SELECT pg_advisory_xact_lock(hashtext('taskrunner.migrate'), hashtext($1));
