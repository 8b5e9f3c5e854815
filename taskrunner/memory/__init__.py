"""The memory backend (`memory://`): jobs kept in this process, for development, tests and
the in-process mode. Nothing survives the process."""

from taskrunner.memory.backend import MemoryBackend

__all__ = ["MemoryBackend"]
