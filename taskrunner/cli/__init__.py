"""The `taskrunner` command line."""

from taskrunner.cli._app import app, main

__all__ = ["app", "main"]
