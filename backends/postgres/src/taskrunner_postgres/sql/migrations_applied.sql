-- The versions applied so far, or nothing if the migrations table does not exist yet.
SELECT version FROM {schema}.migrations ORDER BY version;
