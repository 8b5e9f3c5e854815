"""Who may use the dashboard: the bind rule, credentials, signed session cookies, CSRF tokens
and same-origin checks. Pure functions and one small class, with no Starlette in them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taskrunner.errors import ConfigurationError

SESSION_MAX_AGE = 12 * 3600
LOGIN_FAILURES_ALLOWED = 10  # per client address, in LOGIN_FAILURE_WINDOW
LOGIN_FAILURE_WINDOW = 300.0
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session (from its cookie) or a script holding the bearer token."""

    id: str
    bearer: bool = False
    fresh: bool = False  # made by this request: its cookie must be set on the response


@dataclass
class Guard:
    """The secrets of one dashboard: the credential (None: local use only) and the key that
    signs session cookies and derives CSRF tokens."""

    credential: str | None
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    @property
    def protected(self) -> bool:
        return self.credential is not None

    def credential_matches(self, given: str) -> bool:
        if self.credential is None:
            return False
        # compare digests, so the time taken says nothing about the length either
        return hmac.compare_digest(_digest(given), _digest(self.credential))

    def bearer(self, authorization: str | None) -> bool | None:
        """None without an `Authorization: Bearer` header, else whether its token is right."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.credential_matches(token.strip())

    def _sign(self, message: str) -> str:
        return _b64(hmac.new(self.key, message.encode("ascii"), hashlib.sha256).digest())

    def new_cookie(self) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(18), fresh=True)
        message = f"{session.id}.{int(time.time())}"
        return session, f"{message}.{self._sign(message)}"

    def session_from_cookie(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if its signature holds and it has not expired."""
        if not cookie or len(cookie) > 200:
            return None
        message, _, signature = cookie.rpartition(".")
        session_id, _, issued = message.partition(".")
        if not session_id or not issued.isdigit():
            return None
        if not hmac.compare_digest(signature, self._sign(message)):
            return None
        if not 0 <= time.time() - int(issued) < SESSION_MAX_AGE:
            return None
        return Session(session_id)

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf.{session.id}")

    def csrf_matches(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf_token(session))

    def login_blocked(self, client: str) -> bool:
        failures = self._failures.get(client)
        if failures is None:
            return False
        cutoff = time.monotonic() - LOGIN_FAILURE_WINDOW
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return False
        return len(failures) >= LOGIN_FAILURES_ALLOWED

    def login_failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # many addresses: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(time.monotonic())


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
