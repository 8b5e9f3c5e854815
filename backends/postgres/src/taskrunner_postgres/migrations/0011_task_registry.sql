-- The task registry (issue 16): the spec of every task a worker runs, published by each
-- worker when it starts (`taskrunner.registry.TaskSpec`: JSON, kept as the bytes the worker
-- sent), one row per task name, the last published winning. Code without the tasks' Python
-- reads it to refuse unknown tasks and apply each task's settings.

CREATE TABLE {schema}.task_specs (
    name         text        PRIMARY KEY,
    spec         bytea       NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

-- Enqueue from SQL: `<schema>.enqueue(task, args, kwargs, queue, priority, run_at, key,
-- max_attempts)` stores a job for a worker to run, so that any language with a Postgres
-- driver, a trigger or psql can enqueue. It answers the job's id, or, when a job of the
-- queue holds the dedup key, that job's id. NULL options take the task's settings from its
-- spec. It checks what a Python enqueue checks, and refuses with SQLSTATE 22023
-- (invalid_parameter_value) and a message saying what is wrong, storing nothing:
--   - the task must be registered (a worker published it); task and queue names, the dedup
--     key, the priority, max_attempts and run_at are checked as the core checks them
--     (taskrunner/_validation.py);
--   - args (a JSON array) and kwargs (a JSON object) must fit the task's parameters as
--     Python binds a call (taskrunner/arguments.py);
--   - the task's limit and rate keys are worked out as Python does for a key template of
--     plain {name} fields filled from a string, an integer, true, false or null; a key
--     computed by Python code, a fancier template, another kind of value, or an argument
--     left to its default (whose value only Python knows) is refused;
--   - the payload is written as the core's encode_payload writes it (compact JSON, numbers
--     as Python reads and writes them), within the max_payload of the runner that published
--     the task (1 MiB, the core's default, for a spec without it).
-- The job is inserted as sql/enqueue_keyed.sql inserts one, so the triggers keep every
-- count; a dedup key held by a record past its retention is freed first, as the backend
-- does (sql/drop_expired.sql); the queue's workers are notified on commit.

-- `name`, a task or queue name (`kind`) of at most `longest` characters.
CREATE FUNCTION {schema}.checked_name(kind text, name text, longest integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s name must be a non-empty string, got %s', kind, quote_nullable(name));
    ELSIF length(name) > longest THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s name %L... is %s characters; at most %s are allowed',
            kind, left(name, 40), length(name), longest);
    ELSIF name !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s name %L is not allowed: use letters, digits and _ . : - (starting with a '
            'letter, digit or _)', kind, name);
    END IF;
    RETURN name;
END
$$;

-- `key`, a dedup, limit or rate key (`kind`).
CREATE FUNCTION {schema}.checked_key(kind text, key text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF key IS NULL OR key = '' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s key must be a non-empty string, got %s', kind, quote_nullable(key));
    ELSIF length(key) > 256 THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s key %L... is %s characters; at most 256 are allowed',
            kind, left(key, 40), length(key));
    ELSIF key ~ '[\x01-\x1f\x7f]' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s key %L contains control characters', kind, key);
    END IF;
    RETURN key;
END
$$;

-- A UUIDv7 (as taskrunner.backend.new_job_id makes): the server's clock in milliseconds,
-- then the version, then random bits.
CREATE FUNCTION {schema}.new_job_id() RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    raw bytea := uuid_send(gen_random_uuid());  -- version 4, variant 10
    millis bigint := floor(date_part('epoch', clock_timestamp()) * 1000);
BEGIN
    raw := overlay(raw PLACING substring(int8send(millis) FROM 3) FROM 1 FOR 6);
    raw := set_byte(raw, 6, (get_byte(raw, 6) & 15) | 112);  -- version 7
    RETURN encode(raw, 'hex')::uuid;
END
$$;

-- A decimal's text (fixed, or with an exponent as float8 writes it) taken apart: its sign,
-- its significant digits (none for a zero) and the exponent of the first of them.
CREATE FUNCTION {schema}.decimal_parts(
    number text, OUT sign text, OUT digits text, OUT exponent integer)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    part text[] := regexp_match(number, '^(-?)([0-9]+)\.?([0-9]*)(?:e([-+]?[0-9]+))?$');
    all_digits text := part[2] || part[3];
BEGIN
    sign := part[1];
    digits := rtrim(ltrim(all_digits, '0'), '0');
    exponent := length(part[2]) - 1 + COALESCE(part[4]::integer, 0)
                - (length(all_digits) - length(ltrim(all_digits, '0')));
END
$$;

-- The JSON text of a number as Python writes what it reads from it (orjson): an integer
-- within 64 bits as is; another number as the shortest decimal that reads back as the same
-- float, in fixed notation from 1e-5 up to 1e16, else as 1.5e+16 or 1e-7, or refused when
-- too large for a float. `number` is a jsonb number's text, which has no exponent. The
-- caller sets extra_float_digits above 0 (call_payload does), so float8's text is a
-- decimal that reads back; it is not always the shortest one (1e23 lies halfway between
-- two floats, and float8's text for it is 9.999999999999999e+22), so a shorter rounding of
-- it that reads back as well is taken first.
CREATE FUNCTION {schema}.json_number(number text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    float_value float8;
    shorter numeric;
    parts record;
BEGIN
    IF position('.' IN number) = 0
       AND number::numeric BETWEEN -9223372036854775808 AND 18446744073709551615 THEN
        RETURN number;
    END IF;
    IF abs(number::numeric) BETWEEN 1e-307 AND 1e308 OR number::numeric = 0 THEN
        float_value := number::float8;
    ELSE
        BEGIN
            float_value := number::float8;
        EXCEPTION WHEN numeric_value_out_of_range THEN
            IF abs(number::numeric) < 1 THEN  -- below the smallest float: Python reads 0.0
                RETURN CASE WHEN number LIKE '-%' THEN '-0.0' ELSE '0.0' END;
            END IF;
            RAISE invalid_parameter_value USING MESSAGE = format(
                'the number %s... is too large for a float, which the task''s arguments '
                'cannot carry', left(number, 40));
        END;
    END IF;
    parts := {schema}.decimal_parts(float_value::text);
    -- a shorter decimal reads back too only if float8's text has 16 digits or more: two
    -- decimals of 15 digits are further apart than the decimals that read back as a float
    FOR size IN 1..length(parts.digits) - 1 LOOP
        EXIT WHEN length(parts.digits) < 16;
        shorter := round(float_value::text::numeric, size - 1 - parts.exponent);
        CONTINUE WHEN abs(shorter) > 1.7976931348623157e308;  -- beyond the largest float
        IF shorter::float8 = float_value THEN
            parts := {schema}.decimal_parts(shorter::text);
        END IF;
    END LOOP;
    IF parts.digits = '' THEN
        RETURN parts.sign || '0.0';
    ELSIF parts.exponent < -5 OR parts.exponent >= 16 THEN
        RETURN parts.sign || left(parts.digits, 1)
               || CASE WHEN length(parts.digits) > 1 THEN '.' || substr(parts.digits, 2)
                       ELSE '' END
               || 'e' || CASE WHEN parts.exponent < 0 THEN '-' ELSE '+' END
               || abs(parts.exponent);
    ELSIF parts.exponent < 0 THEN
        RETURN parts.sign || '0.' || repeat('0', -parts.exponent - 1) || parts.digits;
    END IF;
    RETURN parts.sign || rpad(parts.digits, parts.exponent + 1, '0') || '.'
           || COALESCE(NULLIF(substr(parts.digits, parts.exponent + 2), ''), '0');
END
$$;

-- `value` as compact JSON, as orjson writes what Python reads from it: no spaces between
-- tokens, strings escaped as jsonb escapes them (the same escapes), numbers by json_number.
-- Object keys come in jsonb's order (the order a jsonb value keeps them in).
CREATE FUNCTION {schema}.json_compact(item jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    CASE jsonb_typeof(item)
    WHEN 'object' THEN
        RETURN '{' || COALESCE((
            SELECT string_agg(to_jsonb(e.name)::text || ':' || {schema}.json_compact(e.member),
                              ',' ORDER BY e.ord)
            FROM jsonb_each(item) WITH ORDINALITY AS e(name, member, ord)), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || COALESCE((
            SELECT string_agg({schema}.json_compact(e.member), ',' ORDER BY e.ord)
            FROM jsonb_array_elements(item) WITH ORDINALITY AS e(member, ord)), '') || ']';
    WHEN 'number' THEN
        RETURN {schema}.json_number(item::text);
    ELSE
        RETURN item::text;
    END CASE;
END
$$;

-- The payload of a call, as taskrunner._serialization.encode_payload writes it, refused
-- over `max_size` bytes.
CREATE FUNCTION {schema}.call_payload(args jsonb, kwargs jsonb, max_size integer)
RETURNS bytea
LANGUAGE plpgsql STABLE
SET extra_float_digits = 1
AS $$
DECLARE
    payload bytea;
BEGIN
    payload := convert_to('{"args":' || {schema}.json_compact(args) || ',"kwargs":'
                          || {schema}.json_compact(kwargs) || '}', 'UTF8');
    IF octet_length(payload) > max_size THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'the task''s arguments encode to %s bytes, over the limit of %s; pass a reference '
            '(a URL, a row id) instead of the data, or raise max_payload on the TaskRunner',
            octet_length(payload), max_size);
    END IF;
    RETURN payload;
END
$$;

-- The spec of the task `task` (the JSON of taskrunner.registry.TaskSpec), refused when no
-- worker published it or when it cannot be read.
CREATE FUNCTION {schema}.task_spec(task text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    raw bytea;
    spec jsonb;
BEGIN
    SELECT t.spec INTO raw FROM {schema}.task_specs AS t WHERE t.name = task;
    IF NOT FOUND THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'no task named %L is registered: a worker publishes the tasks it runs when it '
            'starts; check the name, or start a worker that runs it', task);
    END IF;
    BEGIN
        spec := convert_from(raw, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception THEN  -- not UTF-8, or not JSON
        spec := NULL;
    END;
    IF jsonb_typeof(spec) IS DISTINCT FROM 'object'
       OR spec -> 'format' IS DISTINCT FROM '1' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'the registered spec of task %L is not one this function reads (format 1); '
            'migrate the schema with the workers'' version of taskrunner', task);
    END IF;
    RETURN spec;
END
$$;

-- How a task's parameters read, for messages: `fetch(url, /, fresh=..., *rest, **options)`.
CREATE FUNCTION {schema}.signature_text(task text, parameters jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(task, '^.*\.', '') || '(' || COALESCE(string_agg(
        CASE WHEN p.kind = 'keyword_only' AND p.star_before = 0 AND p.first_keyword_only
             THEN '*, ' ELSE '' END
        || CASE p.kind WHEN 'var_positional' THEN '*' WHEN 'var_keyword' THEN '**' ELSE '' END
        || p.name
        || CASE WHEN p.has_default THEN '=...' ELSE '' END
        || CASE WHEN p.kind = 'positional_only' AND p.next_kind IS DISTINCT FROM p.kind
                THEN ', /' ELSE '' END,
        ', ' ORDER BY p.ord), '') || ')'
    FROM (SELECT e.ord, e.item ->> 0 AS name, e.item ->> 1 AS kind,
                 COALESCE((e.item ->> 2)::boolean, false) AS has_default,
                 lead(e.item ->> 1) OVER (ORDER BY e.ord) AS next_kind,
                 count(*) FILTER (WHERE e.item ->> 1 = 'var_positional')
                     OVER (ORDER BY e.ord) AS star_before,
                 e.ord = min(e.ord) FILTER (WHERE e.item ->> 1 = 'keyword_only') OVER ()
                     AS first_keyword_only
          FROM jsonb_array_elements(parameters) WITH ORDINALITY AS e(item, ord)) AS p
$$;

-- Bind a call's `args` and `kwargs` to the task's `parameters` (the spec's: name, kind as
-- Python's inspect names it, has a default) as Python binds a call, refusing one that does
-- not fit with Python's words. Answers the call's arguments by name, with the names that
-- **kwargs takes among them (what a key template reads); without parameters (a function
-- whose signature could not be read) every call fits, and kwargs is the answer.
CREATE FUNCTION {schema}.bound_arguments(
    task text, parameters jsonb, args jsonb, kwargs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    given integer := jsonb_array_length(args);
    named jsonb := '{}';
    taken text[] := '{}';  -- the kwargs a named parameter took
    takes_more boolean;    -- has *args
    takes_any boolean;     -- has **kwargs
    problem text;
BEGIN
    IF jsonb_typeof(parameters) IS DISTINCT FROM 'array' THEN
        RETURN kwargs;
    END IF;
    SELECT COALESCE(bool_or(e.item ->> 1 = 'var_positional'), false),
           COALESCE(bool_or(e.item ->> 1 = 'var_keyword'), false),
           CASE WHEN given > count(*) FILTER (
                    WHERE e.item ->> 1 IN ('positional_only', 'positional_or_keyword'))
                THEN 'too many positional arguments' END
    INTO takes_more, takes_any, problem
    FROM jsonb_array_elements(parameters) AS e(item);
    IF takes_more THEN
        problem := NULL;
    END IF;
    FOR p IN
        SELECT e.item ->> 0 AS name, e.item ->> 1 AS kind,
               COALESCE((e.item ->> 2)::boolean, false) AS has_default, e.ord
        FROM jsonb_array_elements(parameters) WITH ORDINALITY AS e(item, ord)
        WHERE e.item ->> 1 NOT IN ('var_positional', 'var_keyword')
        ORDER BY e.ord
    LOOP
        EXIT WHEN problem IS NOT NULL;
        IF p.kind IN ('positional_only', 'positional_or_keyword') AND p.ord <= given THEN
            named := named || jsonb_build_object(p.name, args -> (p.ord::integer - 1));
            IF p.kind = 'positional_or_keyword' AND kwargs ? p.name THEN
                problem := format('multiple values for argument %L', p.name);
            END IF;
        ELSIF p.kind = 'positional_only' AND kwargs ? p.name AND NOT takes_any THEN
            problem := format('%L parameter is positional only, but was passed as a keyword',
                              p.name);
        ELSIF p.kind <> 'positional_only' AND kwargs ? p.name THEN
            named := named || jsonb_build_object(p.name, kwargs -> p.name);
            taken := taken || p.name;
        ELSIF NOT p.has_default THEN
            problem := format('missing a required argument: %L', p.name);
        END IF;
    END LOOP;
    IF problem IS NULL AND NOT takes_any THEN
        SELECT format('got an unexpected keyword argument %L', k.name) INTO problem
        FROM jsonb_object_keys(kwargs) AS k(name)
        WHERE k.name <> ALL(taken)
        LIMIT 1;
    END IF;
    IF problem IS NOT NULL THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'task %L cannot take these arguments: %s (it is defined as %s)',
            task, problem, {schema}.signature_text(task, parameters));
    END IF;
    RETURN named || COALESCE((SELECT jsonb_object_agg(e.name, e.member)
                              FROM jsonb_each(kwargs) AS e(name, member)
                              WHERE e.name <> ALL(taken)), '{}');
END
$$;

-- The limit or rate key (`kind`) of a call of the task, from the spec's `flow` (its limit
-- or rate: NULL, none) and the call's arguments by name (`named`, from bound_arguments), as
-- taskrunner.limits.KeyMaker makes it, for the keys SQL can make; see the header.
CREATE FUNCTION {schema}.flow_key(task text, kind text, flow jsonb, named jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    template text := flow ->> 'key';
    made text := '';
    part text[];
    filler text;
BEGIN
    IF jsonb_typeof(flow) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    ELSIF flow -> 'computed' = 'true' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'task %L: its %s key is computed by Python code in its workers, which SQL cannot '
            'run: enqueue it from Python, or over HTTP giving %s_key', task, kind, kind);
    ELSIF template IS NULL THEN
        RETURN task;
    ELSIF template !~ '^([^{}]|\{\{|\}\}|\{[^{}!:.\[\]]+\})*$' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'task %L: its %s key template %L has fields other than a plain {name}, which only '
            'Python fills: enqueue it from Python', task, kind, template);
    END IF;
    FOR part IN SELECT regexp_matches(template, '(\{\{|\}\}|\{([^{}]+)\}|[^{}]+)', 'g') LOOP
        IF part[2] IS NULL THEN
            made := made || replace(replace(part[1], '{{', '{'), '}}', '}');
            CONTINUE;
        ELSIF NOT named ? part[2] THEN
            RAISE invalid_parameter_value USING MESSAGE = format(
                'task %L: its %s key template %L reads %L, which this call leaves to its '
                'default (a value only Python knows) or does not give: pass it',
                task, kind, template, part[2]);
        END IF;
        filler := CASE jsonb_typeof(named -> part[2])
            WHEN 'string' THEN named ->> part[2]
            WHEN 'boolean' THEN initcap(named ->> part[2])
            WHEN 'null' THEN 'None'
            WHEN 'number'  -- an integer within 64 bits (Python reads others as floats)
                THEN substring({schema}.json_number(named ->> part[2]) FROM '^-?[0-9]+$')
        END;
        IF filler IS NULL THEN
            RAISE invalid_parameter_value USING MESSAGE = format(
                'task %L: its %s key template %L reads %L, here %s: SQL fills a key from a '
                'string, an integer, true, false or null only', task, kind, template,
                part[2], left((named -> part[2])::text, 40));
        END IF;
        made := made || filler;
    END LOOP;
    RETURN {schema}.checked_key(kind, made);
END
$$;

CREATE FUNCTION {schema}.enqueue(
    task text,
    args jsonb DEFAULT '[]',
    kwargs jsonb DEFAULT '{}',
    queue text DEFAULT NULL,
    priority integer DEFAULT NULL,
    run_at timestamptz DEFAULT NULL,
    key text DEFAULT NULL,
    max_attempts integer DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    spec jsonb;
    named jsonb;
    job_id uuid;
    job_queue text;
    job_priority integer;
    job_attempts integer;
    due timestamptz := COALESCE(enqueue.run_at, now());
    payload bytea;
    limit_key text;
    rate_key text;
    holder uuid;
    holder_expired boolean;
BEGIN
    PERFORM {schema}.checked_name('task', enqueue.task, 200);
    spec := {schema}.task_spec(enqueue.task);
    enqueue.args := COALESCE(enqueue.args, '[]');  -- NULL: no arguments
    enqueue.kwargs := COALESCE(enqueue.kwargs, '{}');
    IF jsonb_typeof(enqueue.args) <> 'array' OR jsonb_typeof(enqueue.kwargs) <> 'object' THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'args must be a JSON array and kwargs a JSON object, got %s and %s',
            jsonb_typeof(enqueue.args), jsonb_typeof(enqueue.kwargs));
    END IF;
    job_queue := {schema}.checked_name('queue', COALESCE(enqueue.queue, spec ->> 'queue'), 64);
    job_priority := COALESCE(enqueue.priority, (spec ->> 'priority')::integer);
    IF job_priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'priority %s is out of range -32768..32767 (lower runs first; 0 is the default)',
            job_priority);
    END IF;
    job_attempts := COALESCE(enqueue.max_attempts, (spec ->> 'max_attempts')::integer);
    IF job_attempts < 1 THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'max_attempts must be at least 1 (the first attempt), got %s', job_attempts);
    END IF;
    IF NOT isfinite(due) OR due > now() + make_interval(days => 3650) THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            'run_at %s is too far ahead: a job may be due at most ten years from now', due);
    END IF;
    IF enqueue.key IS NOT NULL THEN
        PERFORM {schema}.checked_key('dedup', enqueue.key);
    END IF;
    named := {schema}.bound_arguments(enqueue.task, spec -> 'parameters', enqueue.args,
                                      enqueue.kwargs);
    limit_key := {schema}.flow_key(enqueue.task, 'limit', spec -> 'limit', named);
    rate_key := {schema}.flow_key(enqueue.task, 'rate', spec -> 'rate', named);
    payload := {schema}.call_payload(enqueue.args, enqueue.kwargs,
                                     COALESCE((spec ->> 'max_payload')::integer, 1048576));
    FOR round IN 1..6 LOOP
        job_id := {schema}.new_job_id();
        INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts,
                                   payload, key, limit_key, limit_max, rate_key, rate_max,
                                   rate_per)
        VALUES (job_id, enqueue.task, job_queue,
                CASE WHEN due <= now() THEN 'queued' ELSE 'scheduled' END,
                job_priority, due, job_attempts, payload, enqueue.key, limit_key,
                COALESCE((spec -> 'limit' ->> 'max')::integer, 0), rate_key,
                COALESCE((spec -> 'rate' ->> 'n')::integer, 0),
                COALESCE((spec -> 'rate' ->> 'per')::float8, 0))
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            PERFORM pg_notify('{queued_channel}', job_queue);
            RETURN job_id;
        END IF;
        -- the key is held: by a live job, whose id is the answer, or by a record past its
        -- retention, deleted so that the next round takes the key
        SELECT h.id, COALESCE(h.expires_at <= now(), false) INTO holder, holder_expired
        FROM {schema}.jobs AS h
        WHERE h.queue = job_queue AND h.key = enqueue.key;
        IF FOUND AND NOT holder_expired THEN
            RETURN holder;
        ELSIF FOUND THEN
            DELETE FROM {schema}.jobs AS h
            WHERE h.id = holder AND h.expires_at <= now()
              AND h.state IN ('succeeded', 'failed', 'cancelled');
        END IF;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
        MESSAGE = 'enqueue: a dedup key kept changing hands; try again';
END
$$;
