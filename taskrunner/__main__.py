"""`python -m taskrunner ...` is the `taskrunner` command."""

from taskrunner.cli import main

main()
