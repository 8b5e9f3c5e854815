"""Checking a call's arguments against its task's signature: at enqueue, before anything is
written (a missing, extra or misspelt argument raises `InvalidArguments` at the call site),
and in the worker, before the stored arguments meet a function whose signature may have
changed since they were stored."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taskrunner.errors import InvalidArguments

MOST_SHAPES = 256  # call shapes remembered per task as fitting


class ArgumentCheck:
    """The signature of one task's function, read once."""

    __slots__ = ("_fits", "_shown", "_signature", "task")

    def __init__(self, fn: Callable[..., Any], task: str) -> None:
        self.task = task
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # no signature to read (some builtins): calls tell
            signature = None
        if signature is not None and _takes_anything(signature):
            signature = None
        self._signature = signature
        self._shown = f"{getattr(fn, '__name__', task)}{_plain(signature)}" if signature else ""
        # binding reads only how many positional arguments there are and which names the
        # keyword ones have, never their values: a shape that fit once always fits
        self._fits: set[int | tuple[int, tuple[str, ...]]] = set()

    def check(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Raise `InvalidArguments` unless the function accepts `args` and `kwargs`."""
        if self._signature is None:
            return
        # a call without keywords is known by its count alone (no tuple to build and hash)
        shape = (len(args), tuple(kwargs)) if kwargs else len(args)
        if shape in self._fits:
            return
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(
                f"task {self.task!r} cannot take these arguments: {exc} (it is defined as "
                f"{self._shown})"
            ) from None
        if len(self._fits) < MOST_SHAPES:
            self._fits.add(shape)


def _plain(signature: inspect.Signature) -> inspect.Signature:
    """The signature without annotations: the names, kinds and defaults a call must fit."""
    return signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )


def _takes_anything(signature: inspect.Signature) -> bool:
    """Whether a function with this signature accepts any arguments at all: `(*args,
    **kwargs)` with nothing else required."""
    kinds = {p.kind for p in signature.parameters.values()}
    required = any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )
    return (
        inspect.Parameter.VAR_POSITIONAL in kinds
        and inspect.Parameter.VAR_KEYWORD in kinds
        and not required
    )
