"""Runnable examples; each module's docstring gives the command that runs it."""
