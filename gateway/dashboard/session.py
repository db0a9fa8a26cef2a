"""Operator sessions: the pasted token stays in this process, the browser holds only a random id.

A session id in a cookie is worth less to an attacker than the token itself: it
works only against this dashboard, dies on logout or after idling, and cannot be
replayed against the gRPC/REST edge. The map is per process, so with several
gateway replicas an operator signs in again when routed to another one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE_NAME = "aos_ui_session"
# Double-submit cookie for the login form, which no session protects yet
# (stops a page elsewhere from signing the operator in with its own token).
LOGIN_COOKIE_NAME = "aos_ui_login"

IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
MAX_SESSIONS = 1000


@dataclass
class OperatorSession:
    # repr=False: a session printed in a traceback or debug line must not carry the token.
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    created: float
    last_seen: float

    def csrf_matches(self, submitted: str | None) -> bool:
        return submitted is not None and secrets.compare_digest(submitted.encode(), self.csrf.encode())


class SessionStore:
    """In-memory sessions with idle and absolute expiry and a bound on their number."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._sessions: dict[str, OperatorSession] = {}
        self._idle = idle_seconds
        self._max_age = max_age_seconds
        self._max = max_sessions
        self._clock = clock

    def create(self, token: str) -> tuple[str, OperatorSession]:
        now = self._clock()
        self._sweep(now)
        while len(self._sessions) >= self._max:
            # Dicts keep insertion order: the first key is the oldest session.
            del self._sessions[next(iter(self._sessions))]
        session_id = secrets.token_urlsafe(32)
        session = OperatorSession(token=token, csrf=secrets.token_urlsafe(32), created=now, last_seen=now)
        self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None, *, touch: bool = True) -> OperatorSession | None:
        """The live session, if any. `touch=False` reads it without counting as operator activity."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[session_id]
            return None
        if touch:
            session.last_seen = now
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: OperatorSession, now: float) -> bool:
        return now - session.last_seen > self._idle or now - session.created > self._max_age

    def _sweep(self, now: float) -> None:
        for session_id in [sid for sid, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[session_id]
