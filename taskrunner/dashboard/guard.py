"""The secrets of one dashboard: its credential, and the key that signs its session cookies
and CSRF tokens (itsdangerous), which dashboards given the same key share."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

from taskrunner.dashboard.security import (
    MIN_SECRET_LENGTH,
    SECRET_ENV,
    SESSION_MAX_AGE,
    FailureLog,
    Verdict,
)
from taskrunner.errors import ConfigurationError


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session (from its cookie) or a script holding the bearer token."""

    id: str
    bearer: bool = False
    fresh: bool = False  # made by this request: its cookie must be set on the response


def session_key(given: str | bytes | None) -> str | bytes:
    """The key that signs sessions: `given`, else the `TASKRUNNER_DASHBOARD_SECRET`
    environment variable, else a random one (sessions then end with the process)."""
    if given is None:
        given = os.environ.get(SECRET_ENV) or None
    if given is None:
        return secrets.token_bytes(32)
    if not isinstance(given, str | bytes) or len(given) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"the dashboard's secret key needs {MIN_SECRET_LENGTH} characters or more "
            f"(secret_key=, --secret or {SECRET_ENV})"
        )
    return given


@dataclass
class Guard:
    """The secrets of one dashboard: the credential (None: local use only) and the key that
    signs session cookies and CSRF tokens (itsdangerous). Dashboards given the same key
    accept each other's sessions, so several processes behind a load balancer share logins."""

    credential: str | None
    key: str | bytes = field(default_factory=lambda: secrets.token_bytes(32))
    failures: FailureLog = field(default_factory=FailureLog)

    def __post_init__(self) -> None:
        self._cookies = URLSafeTimedSerializer(self.key, salt="taskrunner.dashboard.session")
        self._csrf = URLSafeSerializer(self.key, salt="taskrunner.dashboard.csrf")

    @property
    def protected(self) -> bool:
        return self.credential is not None

    def credential_matches(self, given: str) -> bool:
        if self.credential is None:
            return False
        # compare digests, so the time taken says nothing about the length either
        return hmac.compare_digest(_digest(given), _digest(self.credential))

    def judge(self, client: str, given: str) -> Verdict:
        """Check a credential presented by `client`: the correct one is always admitted,
        throttled or not; a wrong one is counted against the client's address."""
        if self.credential_matches(given):
            return Verdict.ADMITTED
        self.failures.failed(client)
        return Verdict.THROTTLED if self.failures.throttled_for(client) else Verdict.WRONG

    def bearer(self, client: str, authorization: str | None) -> Verdict | None:
        """None without an `Authorization: Bearer` header, else what its token earns."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.judge(client, token.strip())

    def new_cookie(self) -> tuple[Session, str]:
        """A new session and its cookie value (signed, with the time it was issued)."""
        session = Session(secrets.token_urlsafe(18), fresh=True)
        return session, self._cookies.dumps(session.id)

    def session_from_cookie(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if its signature holds and it has not expired."""
        if not cookie or len(cookie) > 200:
            return None
        try:
            session_id = self._cookies.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadData:
            return None
        return Session(session_id) if isinstance(session_id, str) and session_id else None

    def csrf_token(self, session: Session) -> str:
        return self._csrf.dumps(session.id)

    def csrf_matches(self, session: Session, given: str | None) -> bool:
        if not given:
            return False
        try:
            return bool(self._csrf.loads(given) == session.id)
        except BadData:
            return False
