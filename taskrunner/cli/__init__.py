"""The `taskrunner` command line.

`_app` holds the app object and what the commands share; each command group lives in its own
module and is registered here, in the order `taskrunner --help` lists them.
"""

from taskrunner.cli import actions, batches, dashboard, enqueue, jobs, migrate, run, stats
from taskrunner.cli._app import app

app.command("run")(run.run)
app.command("migrate")(migrate.migrate)
app.command("jobs")(jobs.list_jobs)
app.command("job")(jobs.show_job)
app.command("retry")(actions.retry)
app.command("cancel")(actions.cancel)
app.command("delete")(actions.delete)
app.command("purge")(jobs.purge)
app.command("pause")(jobs.pause)
app.command("resume")(jobs.resume)
app.command("batches")(batches.list_batches)
app.command("stats")(stats.stats)
app.command("enqueue")(enqueue.enqueue)
app.command("dashboard")(dashboard.serve_dashboard)


def main() -> None:
    """The `taskrunner` console script."""
    app()


__all__ = ["app", "main"]
