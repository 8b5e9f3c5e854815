"""Escaping by default: every value put into a page is escaped unless it is `Html`, which only
this module's helpers make (from templates and from fragments whose parts were escaped)."""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from functools import cache
from importlib import resources

PACKAGE = "taskrunner.dashboard"


class Html(str):
    """A string that is already safe HTML: inserted into templates as it is."""

    __slots__ = ()


def escape(value: object) -> Html:
    """`value` as HTML text: Html passes through, anything else is converted and escaped."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def fragment(pattern: str, *values: object) -> Html:
    """`pattern` (trusted markup with `{}` places) filled with escaped `values`."""
    return Html(pattern.format(*(escape(v) for v in values)))


def join(parts: Iterable[Html], separator: str = "") -> Html:
    return Html(separator.join(escape(p) for p in parts))


@cache
def _template(name: str) -> string.Template:
    text = resources.files(PACKAGE).joinpath("templates", name).read_text("utf-8")
    return string.Template(text)


def render(name: str, **values: object) -> Html:
    """The template file `templates/<name>` with `$names` replaced by escaped values."""
    return Html(_template(name).substitute({k: escape(v) for k, v in values.items()}))


@cache
def static_file(name: str) -> bytes:
    return resources.files(PACKAGE).joinpath("static", name).read_bytes()
