#!/usr/bin/env python
"""A small Django site whose tasks run on taskrunner (see docs/django.md).

From this folder, with Redis on localhost (or TASKRUNNER_URL set):

    uv run python manage.py migrate
    uv run python manage.py taskrunner_worker      # the worker, in a terminal of its own
    uv run python manage.py runserver              # then open http://127.0.0.1:8000

Its tests start a worker process of their own: uv run python manage.py test
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
