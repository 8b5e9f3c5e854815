"""`python manage.py taskrunner_worker`: a taskrunner worker for a `TASKS` alias's jobs.

It is `taskrunner run` (the same options, shutdown and exit codes) with Django set up by
`manage.py` (settings, apps, logging) before any task module is imported, the alias's task
modules imported, and by default the queues of the alias's `QUEUES`.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

import typer
from django.core.management.base import BaseCommand, CommandError

from taskrunner.cli.run import run
from taskrunner.contrib.django.worker import ALIAS_VARIABLE, worker_queues, worker_runner
from taskrunner.errors import TaskrunnerError

APP_PATH = "taskrunner.contrib.django.worker:runner"


class Command(BaseCommand):
    help = "Run a taskrunner worker for the tasks of a TASKS backend until SIGTERM or SIGINT."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--backend", default="default", help="The TASKS alias to run.")
        parser.add_argument("--concurrency", type=int, help="Jobs run at once (default 10).")
        parser.add_argument(
            "--queue",
            action="append",
            help="Queues to take jobs from: a,b or a=5,b=20 (default: the alias's QUEUES).",
        )
        parser.add_argument("--grace", type=float, default=25.0, help="Seconds to finish.")
        parser.add_argument("--lease", type=float, default=30.0, help="Seconds of a lease.")
        parser.add_argument("--burst", action="store_true", help="Exit once no job is due.")
        parser.add_argument("--log-level", default="info", help="debug, info, warning, error.")
        parser.add_argument("--log-format", default="text", help="text or json.")
        parser.add_argument("--metrics-port", type=int, help="Serve Prometheus metrics here.")
        parser.add_argument("--metrics-host", default="127.0.0.1")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["backend"]
        try:
            worker_runner(alias)  # fails here, with a clear message, for a wrong alias
            queues = options["queue"] or worker_queues(alias)
        except TaskrunnerError as exc:
            raise CommandError(str(exc)) from None
        os.environ[ALIAS_VARIABLE] = alias  # for `taskrunner run`, which loads the runner
        try:
            run(
                APP_PATH,
                concurrency=options["concurrency"],
                queue=None if queues is None else [",".join(queues)],
                grace=options["grace"],
                lease=options["lease"],
                burst=options["burst"],
                log_level=options["log_level"],
                log_format=options["log_format"],
                metrics_port=options["metrics_port"],
                metrics_host=options["metrics_host"],
            )
        except typer.Exit as exit:  # (typer's own: it no longer needs click)
            if exit.exit_code:
                raise SystemExit(exit.exit_code) from None
