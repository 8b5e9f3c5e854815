"""Who may use the dashboard: the bind rule, same-origin checks, and the throttle on wrong
credentials. Pure functions and small classes with no dependency beyond the standard
library, so the CLI checks its bind rule without the dashboard extra; `guard` holds the
credentials and signs sessions."""

from __future__ import annotations

import enum
import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taskrunner.errors import ConfigurationError

SESSION_MAX_AGE = 12 * 3600
LOGIN_FAILURES_ALLOWED = 10  # per client address, in LOGIN_FAILURE_WINDOW
LOGIN_FAILURE_WINDOW = 300.0
THROTTLED_FAILURE_DELAY = 1.0  # seconds before answering a failure from a throttled address
SECRET_ENV = "TASKRUNNER_DASHBOARD_SECRET"
MIN_SECRET_LENGTH = 16
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1), bracketed or not."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header, without its port."""
    host = host.strip()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0] if host.count(":") == 1 else host


def check_bind(host: str, protected: bool) -> None:
    """Refuse to listen beyond this machine without a password or token."""
    if not protected and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve the dashboard on {host}: that address is reachable from other "
            "machines, so set a password or token first (--password, --token, or "
            "TASKRUNNER_DASHBOARD_PASSWORD / TASKRUNNER_DASHBOARD_TOKEN), or bind 127.0.0.1"
        )


class Verdict(enum.Enum):
    """What a presented credential (login form or bearer token) earns."""

    ADMITTED = "admitted"
    WRONG = "wrong"
    THROTTLED = "throttled"  # wrong, from an address with too many recent failures


@dataclass
class FailureLog:
    """Recent failed credentials per client address, to slow down guessing.

    Only failures are counted and only time clears them: a correct credential neither
    waits for nor resets anything. Resetting on success would let anyone who shares an
    address with a legitimate user (everyone behind one proxy) start a fresh allowance each
    time that user, or a script holding the token, signs in, and so interleave guesses
    forever. Refusing a throttled address outright would lock that user out with the
    guesser. The price: an address that keeps guessing stays throttled, but its correct
    credential still gets in, so a throttle can slow one client's guessing and cannot stop
    guesses spread over many connections or addresses; a long random token is the defence.
    """

    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def failed(self, client: str) -> None:
        """Count one failure from `client`."""
        if client not in self._failures and len(self._failures) >= 10_000:
            self._failures.pop(next(iter(self._failures)))  # many addresses: forget the oldest
        # the last LOGIN_FAILURES_ALLOWED failures tell whether the address is throttled
        entries = self._failures.setdefault(client, deque(maxlen=LOGIN_FAILURES_ALLOWED))
        entries.append(time.monotonic())

    def throttled_for(self, client: str) -> float:
        """Seconds until `client` is no longer throttled (0: not throttled)."""
        entries = self._failures.get(client)
        if not entries:
            return 0.0
        now = time.monotonic()
        if entries[-1] <= now - LOGIN_FAILURE_WINDOW:
            del self._failures[client]  # every failure it remembers is too old to count
            return 0.0
        if len(entries) < LOGIN_FAILURES_ALLOWED:
            return 0.0
        return max(0.0, entries[0] + LOGIN_FAILURE_WINDOW - now)


def _authority(url: str) -> str | None:
    """`host[:port]` of an absolute URL, lower-cased, without the scheme's default port."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None
    return _strip_default_port(parts.netloc.rpartition("@")[2])


def _strip_default_port(authority: str) -> str:
    authority = authority.lower()
    host, colon, port = authority.rpartition(":")
    if colon and port in _DEFAULT_PORTS.values() and not host.endswith(":"):
        return host
    return authority


def same_origin(host: str | None, origin: str | None, referer: str | None) -> bool:
    """Whether a state-changing request comes from a page of this site: its Origin (or, if
    the browser sent none, its Referer) names the host the request was sent to."""
    if not host:
        return False
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    return _authority(source) == _strip_default_port(host)
