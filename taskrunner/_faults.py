"""Moved to `taskrunner.backend.faults` (backends reach crash points too); kept for imports
that still name this module."""

from taskrunner.backend.faults import ARMED, EXIT_CODE, POINTS, reached

__all__ = ["ARMED", "EXIT_CODE", "POINTS", "reached"]
