b.id::text AS id,
date_part('epoch', b.created_at) AS created_at,
b.closed,
b.total,
(SELECT count(*)::integer
 FROM {schema}.jobs AS d
 WHERE d.batch_id = b.id AND d.state = 'queued') AS queued,
(SELECT count(*)::integer
 FROM {schema}.jobs AS d
 WHERE d.batch_id = b.id AND d.state = 'scheduled') AS scheduled,
(SELECT count(*)::integer
 FROM {schema}.jobs AS d
 WHERE d.state = 'running' AND d.batch_id = b.id) AS running,
b.succeeded,
b.failed,
b.cancelled,
b.on_success::text AS on_success,
b.on_complete::text AS on_complete,
b.success_fired,
b.complete_fired,
date_part('epoch', b.ended_at) AS ended_at,
(SELECT count(*)
 FROM {schema}.jobs AS d
 WHERE d.batch_id = b.id AND d.state = 'scheduled' AND d.run_at <= now()) AS due
