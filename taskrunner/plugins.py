"""Backends are plugins found by URL scheme in the `taskrunner.backends` entry-point group."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from taskrunner.backend import Backend
from taskrunner.errors import BackendNotFound, ConfigurationError

GROUP = "taskrunner.backends"
_KNOWN_PACKAGES = {
    "redis": "taskrunner[redis]",
    "rediss": "taskrunner[redis]",
    "postgres": "taskrunner[postgres]",
    "postgresql": "taskrunner[postgres]",
}


_SECRET_PARAMETER = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#]*")


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages."""
    return _SECRET_PARAMETER.sub(r"\1***", _redact_credentials(url))


def _redact_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        if not parts.netloc and "@" in url:
            # credentials urlsplit could not place (e.g. redis:/user:pw@host): hide them all
            head, host = url.rsplit("@", 1)
            scheme = head.split(":", 1)[0] + ":" if ":" in head else ""
            return f"{scheme}***@{host}"
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"backend URL {redact(str(url))!r} has no scheme; expected memory://, "
            "redis://host:6379/0 or postgresql://user@host/db"
        )
    return url.split("://", 1)[0].lower()


def load_backend(url: str) -> Backend:
    """Create the backend registered for the URL's scheme (not yet connected)."""
    scheme = scheme_of(url)
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    entry = found.get(scheme)
    if entry is None:
        if scheme in _KNOWN_PACKAGES:
            hint = f"install it with: pip install '{_KNOWN_PACKAGES[scheme]}'"
        else:
            hint = (
                f"installed backends: {', '.join(sorted(found)) or 'none'}; a backend "
                f"registers under the {GROUP!r} entry-point group"
            )
        raise BackendNotFound(f"no taskrunner backend for {scheme}:// URLs; {hint}")
    factory = entry.load()
    return cast(Backend, factory(url))
