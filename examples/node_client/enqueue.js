// Enqueue a taskrunner job from Node.js: one call of the Postgres function
// <schema>.enqueue(task, args, kwargs, queue, priority, run_at, key, max_attempts), which
// checks the call against the task a Python worker published, stores the job and wakes
// the workers. A Python worker then runs it.
//
//   DATABASE_URL=postgresql://app@db.internal/app node enqueue.js emails.welcome '[42]' '{"locale": "fr"}'
//
// Options: --queue <name>, --priority <n>, --delay <seconds>, --key <dedup key>,
// --max-attempts <n>. TASKRUNNER_SCHEMA names the schema of taskrunner's tables
// (default: taskrunner, as the backend's URL's `schema=` does).
import { parseArgs } from "node:util";
import pg from "pg";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

// Resolves to the job's id; when a job of the queue holds `options.key`, to that job's id.
async function enqueue(client, schema, task, args, kwargs, options = {}) {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`${JSON.stringify(schema)} is not a taskrunner schema name`);
  }
  const { rows } = await client.query(
    `SELECT ${schema}.enqueue($1, $2::jsonb, $3::jsonb, queue => $4, priority => $5,
                              run_at => now() + $6 * interval '1 second', key => $7,
                              max_attempts => $8) AS id`,
    [task, JSON.stringify(args), JSON.stringify(kwargs), options.queue ?? null,
     options.priority ?? null, options.delay ?? null, options.key ?? null,
     options.maxAttempts ?? null],
  );
  return rows[0].id;
}

function numberOption(text, name) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} takes a number, got ${text}`);
  return value;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      queue: { type: "string" },
      priority: { type: "string" },
      delay: { type: "string" },
      key: { type: "string" },
      "max-attempts": { type: "string" },
    },
  });
  const [task, args = "[]", kwargs = "{}"] = positionals;
  if (task === undefined || positionals.length > 3) {
    throw new Error("usage: node enqueue.js <task> [args as JSON] [kwargs as JSON] [options]");
  }
  const options = {
    queue: values.queue,
    priority: numberOption(values.priority, "priority"),
    delay: numberOption(values.delay, "delay"),
    key: values.key,
    maxAttempts: numberOption(values["max-attempts"], "max-attempts"),
  };
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const schema = process.env.TASKRUNNER_SCHEMA ?? "taskrunner";
    console.log(await enqueue(client, schema, task, JSON.parse(args), JSON.parse(kwargs), options));
  } finally {
    await client.end();
  }
}

main().catch((error) => {
  console.error(`enqueue failed: ${error.message}`);
  process.exitCode = 1;
});
