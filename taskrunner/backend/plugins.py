"""Backends are plugins found by URL scheme in the `taskrunner.backends` entry-point group."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from taskrunner.backend.protocol import Backend
from taskrunner.errors import BackendNotFound, ConfigurationError

GROUP = "taskrunner.backends"
_KNOWN_PACKAGES = {
    "redis": "taskrunner-jobs[redis]",
    "rediss": "taskrunner-jobs[redis]",
    "redis+cluster": "taskrunner-jobs[redis]",
    "rediss+cluster": "taskrunner-jobs[redis]",
    "redis+sentinel": "taskrunner-jobs[redis]",
    "rediss+sentinel": "taskrunner-jobs[redis]",
    "postgres": "taskrunner-jobs[postgres]",
    "postgresql": "taskrunner-jobs[postgres]",
    "sqlite": "taskrunner-jobs[sqlite]",
}


_SECRET_PARAMETER = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#]*")
_AUTHORITY_END = re.compile(r"[/?#]")
ENCODE_HINT = (
    "percent-encode the user name and password (/ as %2F, ? as %3F, # as %23, @ as %40, "
    "[ as %5B, ] as %5D), e.g. with urllib.parse.quote(password, safe='')"
)


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages."""
    return _SECRET_PARAMETER.sub(r"\1***", _redact_credentials(url))


def check_url(url: str) -> str:
    """The URL, if its credentials can be told apart from its host; else ConfigurationError,
    which names the fix and never the password (one with an unencoded / ? # @ [ or ])."""
    if _misplaced_at(url):
        raise ConfigurationError(
            f"backend URL {redact(url)!r} has an '@' after the one that ends the password, "
            f"so the password cannot be told apart from the host: {ENCODE_HINT}"
        )
    if not _splittable(url):
        raise ConfigurationError(f"backend URL {redact(url)!r} cannot be parsed: {ENCODE_HINT}")
    return url


def _misplaced_at(url: str) -> bool:
    """True if an '@' follows the first one or the URL's authority (where urlsplit and the
    drivers end the host): the mark of a password with an unencoded / ? # or @ in it."""
    _, separator, rest = url.partition("://")
    if not separator:
        return False
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    return authority.count("@") > 1 or "@" in rest[len(authority) :]


def _splittable(url: str) -> bool:
    try:
        urlsplit(url)
    except ValueError:  # brackets that do not make an IPv6 address
        return False
    return True


def _redact_credentials(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest and (_misplaced_at(url) or not _splittable(url)):
        # no parser can tell where the password ends: hide all up to the last '@'
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    if not _splittable(url):
        return url  # without an '@' there are no credentials to hide
    parts = urlsplit(url)
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


_FLAGS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}  # fmt: skip


def parse_flag(value: str) -> bool | None:
    """A true/false URL parameter (1, true, yes, on / 0, false, no, off, in any case); None
    for anything else, which the backend reports in its own words."""
    return _FLAGS.get(value.lower())


def scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"backend URL {redact(str(url))!r} has no scheme; expected memory://, "
            "sqlite:///jobs.db, redis://host:6379/0 or postgresql://user@host/db"
        )
    return url.split("://", 1)[0].lower()


def load_backend(url: str) -> Backend:
    """Create the backend registered for the URL's scheme (not yet connected)."""
    scheme = scheme_of(url)
    check_url(url)
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
