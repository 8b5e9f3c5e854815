-- Forget worker $1.
DELETE FROM {schema}.workers WHERE id = $1;
