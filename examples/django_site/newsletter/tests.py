"""The site's tests, with Django's test runner: `python manage.py test`.

A real worker process (`manage.py taskrunner_worker`) runs the jobs, against the test
database and whatever taskrunner backend TASKRUNNER_URL names (Redis or Postgres).
TransactionTestCase: each test commits for real, as `transaction.on_commit` needs.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from unittest import skipUnless

from django.conf import settings
from django.db import connection, transaction
from django.test import TransactionTestCase
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist, TaskResultMismatch
from django_tasks.signals import task_enqueued

from newsletter.models import Subscriber
from newsletter.tasks import count_subscribers, send_welcome, sync_to_crm
from newsletter.views import subscribe_email
from taskrunner import InvalidArguments, JobState, SerializationError
from taskrunner.contrib.django import TaskrunnerBackend

SITE = Path(__file__).resolve().parent.parent
FINISH_WITHIN = 60.0  # seconds: a bound on waiting, not a measure of speed


def finished(result: TaskResult[Any]) -> TaskResult[Any]:
    """Refresh `result` until its task has finished."""
    deadline = time.monotonic() + FINISH_WITHIN
    while not result.is_finished:
        if time.monotonic() > deadline:
            raise AssertionError(f"task {result.id} still {result.status}")
        time.sleep(0.05)
        result.refresh()
    return result


@contextmanager
def enqueued() -> Iterator[list[TaskResult[Any]]]:
    """The results the framework's `task_enqueued` signal reports meanwhile."""
    seen: list[TaskResult[Any]] = []

    def record(sender: type, task_result: TaskResult[Any], **kwargs: object) -> None:
        seen.append(task_result)

    task_enqueued.connect(record)
    try:
        yield seen
    finally:
        task_enqueued.disconnect(record)


class WithWorker(TransactionTestCase):
    """Starts `manage.py taskrunner_worker` on the test database for the class's tests."""

    command: ClassVar[list[str]] = ["manage.py", "taskrunner_worker", "--concurrency", "4"]
    worker: ClassVar[subprocess.Popen[bytes]]
    log: ClassVar[Path]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        env = dict(os.environ, DJANGO_DB_NAME=str(connection.settings_dict["NAME"]))
        cls.log = Path(tempfile.mkdtemp()) / "worker.log"
        with cls.log.open("wb") as out:
            cls.worker = subprocess.Popen(
                [sys.executable, *cls.command],
                cwd=SITE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + FINISH_WITHIN
        while " started on " not in cls.log.read_text():  # its signal handlers are set
            if cls.worker.poll() is not None or time.monotonic() > deadline:
                cls.worker.kill()
                raise AssertionError(f"the worker did not start:\n{cls.log.read_text()}")
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.worker.send_signal(signal.SIGTERM)
        code = cls.worker.wait(60)
        super().tearDownClass()
        if code != 0:
            raise AssertionError(f"the worker exited with {code}:\n{cls.log.read_text()}")

    def backend(self) -> TaskrunnerBackend:
        backend = task_backends["default"]
        assert isinstance(backend, TaskrunnerBackend)
        return backend


class SubscribeTests(WithWorker):
    def test_a_subscription_is_welcomed_by_the_worker(self) -> None:
        answer = self.client.post(reverse("subscribe"), {"email": "ada@example.com"})
        subscriber = Subscriber.objects.get(email="ada@example.com")
        self.assertRedirects(answer, reverse("subscriber", args=[subscriber.pk]))
        self.assertTrue(subscriber.welcome_task)  # on_commit ran: the job is enqueued

        result = finished(send_welcome.get_result(subscriber.welcome_task))
        self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)
        self.assertEqual(result.return_value, {"to": "ada@example.com"})
        self.assertEqual((result.attempts, result.errors), (1, []))
        assert result.started_at is not None and result.finished_at is not None
        self.assertLessEqual(result.started_at, result.finished_at)
        subscriber.refresh_from_db()
        self.assertIsNotNone(subscriber.welcomed_at)  # the worker saw the committed row
        mails = [path.read_text() for path in Path(settings.EMAIL_FILE_PATH).iterdir()]
        self.assertTrue(any("To: ada@example.com" in mail for mail in mails))

        page = self.client.get(reverse("subscriber", args=[subscriber.pk]))
        self.assertContains(page, "<strong>SUCCESSFUL</strong>")
        data = self.client.get(reverse("welcome-result", args=[result.id])).json()
        self.assertEqual(data["status"], "SUCCESSFUL")
        self.assertEqual(data["return_value"], {"to": "ada@example.com"})

    def test_a_rolled_back_subscription_enqueues_nothing(self) -> None:
        with enqueued() as seen:
            try:
                with transaction.atomic():
                    subscribe_email("grace@example.com")
                    raise RuntimeError("the request failed after the subscriber was saved")
            except RuntimeError:
                pass
            self.assertEqual(seen, [])
            self.assertFalse(Subscriber.objects.filter(email="grace@example.com").exists())
            subscribe_email("grace@example.com")  # committed: enqueued once
            self.assertEqual([r.task.module_path for r in seen], [send_welcome.module_path])

    def test_a_failing_task_records_each_attempt(self) -> None:
        subscriber = subscribe_email("nobody@example.invalid")
        subscriber.refresh_from_db()
        result = finished(send_welcome.get_result(subscriber.welcome_task))
        self.assertEqual(result.status, TaskResultStatus.FAILED)
        self.assertEqual(result.attempts, 3)  # the first and OPTIONS["retries"] = 2 more
        self.assertEqual(len(result.worker_ids), 3)
        self.assertEqual(len(result.errors), 3)
        for error in result.errors:
            self.assertIs(error.exception_class, ValueError)
            self.assertIn("cannot deliver to nobody@example.invalid", error.traceback)
            self.assertIn("in send_welcome", error.traceback)
        with self.assertRaises(ValueError):
            result.return_value  # noqa: B018
        page = self.client.get(reverse("subscriber", args=[subscriber.pk]))
        self.assertContains(page, "<strong>FAILED</strong> after 3 attempts")


class FrameworkTests(WithWorker):
    def test_context_attempts_priority_and_queue(self) -> None:
        subscriber = subscribe_email("linus@example.com")
        result = finished(sync_to_crm.enqueue(subscriber.pk))
        self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)
        self.assertEqual(result.return_value, 2)  # context.attempt of the attempt that passed
        self.assertEqual(result.attempts, 2)
        (error,) = result.errors
        self.assertIs(error.exception_class, ConnectionError)
        self.assertEqual((result.task.priority, result.task.queue_name), (10, "crm"))
        job = self.backend().registry.runner.get_job_sync(result.id)
        self.assertEqual((job.priority, job.queue), (-10, "crm"))  # larger first -> smaller
        self.assertEqual(job.task, "newsletter.tasks.sync_to_crm")

    def test_an_async_task(self) -> None:
        subscribe_email("ken@example.com")
        subscribe_email("barbara@example.org")
        result = finished(count_subscribers.enqueue("example.com"))
        self.assertEqual(result.return_value, 1)

    def test_run_after_and_priority_map_onto_the_job(self) -> None:
        subscriber = subscribe_email("edsger@example.com")
        later = timezone.now() + timedelta(hours=1)
        result = send_welcome.using(run_after=later, priority=-30).enqueue(subscriber.pk)
        result.refresh()
        self.assertEqual(result.status, TaskResultStatus.READY)
        job = self.backend().registry.runner.get_job_sync(result.id)
        self.assertEqual(job.state, JobState.SCHEDULED)
        self.assertAlmostEqual(job.run_at.timestamp(), later.timestamp(), places=3)
        self.assertEqual(job.priority, 30)
        self.assertEqual(result.task.priority, -30)
        self.assertEqual(self.backend().registry.runner.cancel_sync(result.id), JobState.CANCELLED)
        result.refresh()
        self.assertEqual(result.status, TaskResultStatus.FAILED)  # cancelled: it never ran
        self.assertEqual(result.attempts, 0)

    def test_validation(self) -> None:
        with self.assertRaises(InvalidTaskError):
            send_welcome.using(queue_name="elsewhere")  # not in QUEUES
        with self.assertRaises(InvalidTaskError):
            send_welcome.using(priority=101)
        with self.assertRaises(InvalidArguments), enqueued() as seen:
            send_welcome.enqueue()  # type: ignore[call-arg]
        with self.assertRaises(InvalidArguments):
            sync_to_crm.enqueue(1, 2)  # type: ignore[call-arg]
        with self.assertRaises((TypeError, SerializationError)):
            send_welcome.enqueue(object())  # type: ignore[arg-type]
        self.assertEqual(seen, [])
        with self.assertRaises(TaskResultDoesNotExist):
            send_welcome.get_result("01a1b2c3-0000-7000-8000-000000000000")
        other = subscribe_email("tony@example.com")
        crm = sync_to_crm.enqueue(other.pk)
        with self.assertRaises(TaskResultMismatch):
            send_welcome.get_result(crm.id)
        finished(crm)


class TaskrunnerRunTests(WithWorker):
    """The same worker started as `taskrunner run` (DJANGO_SETTINGS_MODULE is set)."""

    command: ClassVar[list[str]] = [
        *("-m", "taskrunner", "run", "taskrunner.contrib.django.worker:runner"),
        *("--queue", "default,crm"),
    ]

    def test_it_runs_the_sites_tasks(self) -> None:
        subscriber = subscribe_email("margaret@example.com")
        subscriber.refresh_from_db()
        welcome = finished(send_welcome.get_result(subscriber.welcome_task))
        self.assertEqual(welcome.return_value, {"to": "margaret@example.com"})
        self.assertEqual(finished(count_subscribers.enqueue("example.com")).return_value, 1)


@skipUnless(connection.vendor == "postgresql", "counts sessions in pg_stat_activity")
class ConnectionTests(WithWorker):
    def test_the_worker_closes_its_database_connections_after_each_job(self) -> None:
        subscriber = subscribe_email("alan@example.com")
        subscriber.refresh_from_db()
        finished(send_welcome.get_result(subscriber.welcome_task))  # it read and wrote rows
        deadline = time.monotonic() + FINISH_WITHIN
        while self.other_sessions() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.other_sessions(), 0)  # CONN_MAX_AGE = 0: closed after the job

    def other_sessions(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (count,) = cursor.fetchone() or (0,)
        return int(count)
