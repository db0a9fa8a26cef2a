"""Operator sessions: the pasted token stays in this process, the browser holds only a random id.

A session id in a cookie is worth less to an attacker than the token itself: it
works only against this dashboard, dies on logout or after idling, and cannot be
replayed against the gRPC/REST edge. The map is per process, so with several
gateway replicas an operator signs in again when routed to another one.

The map is bounded per subject (the token's `sub`) and in all, and making room
only ever ends the same subject's oldest session: signing in many times with one
token cannot sign anyone else out. When the map is full of other subjects'
live sessions, a new sign-in is refused instead (`SessionsFull`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

COOKIE_NAME = "aos_ui_session"
# Double-submit cookie for the login form, which no session protects yet
# (stops a page elsewhere from signing the operator in with its own token).
LOGIN_COOKIE_NAME = "aos_ui_login"

IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
MAX_SESSIONS = 1000
MAX_SESSIONS_PER_SUBJECT = 10


class SessionsFull(Exception):
    """Every slot holds a live session of another subject; none of them is dropped for this one."""


def token_subject(token: str) -> str:
    """Whose token this is, for the per-subject bound: the JWT's `sub`, read without checking the
    signature. Call it only on a token a backend has just accepted (an authentic token's `sub`
    is what its issuer signed). A token that is not a readable JWT counts as its own subject."""
    try:
        subject = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        subject = None
    if isinstance(subject, str) and subject:
        return f"sub:{subject}"
    # A digest, not the token: subjects may be counted or compared, never a credential.
    return "token:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass
class OperatorSession:
    # repr=False: a session printed in a traceback or debug line must not carry the token.
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    subject: str
    created: float
    last_seen: float

    def csrf_matches(self, submitted: str | None) -> bool:
        return submitted is not None and secrets.compare_digest(submitted.encode(), self.csrf.encode())


class SessionStore:
    """In-memory sessions with idle and absolute expiry, bounded per subject and in all."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        max_per_subject: int = MAX_SESSIONS_PER_SUBJECT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._sessions: dict[str, OperatorSession] = {}
        self._idle = idle_seconds
        self._max_age = max_age_seconds
        self._max = max_sessions
        self._max_per_subject = max_per_subject
        self._clock = clock

    def create(self, token: str, subject: str) -> tuple[str, OperatorSession]:
        """A new session for `subject`, ending its own oldest ones past the per-subject bound.
        Raises `SessionsFull` rather than end another subject's session."""
        now = self._clock()
        self._sweep(now)
        # Dicts keep insertion order: the first of a subject's ids is its oldest session.
        own = [sid for sid, s in self._sessions.items() if s.subject == subject]
        excess = max(0, len(own) - self._max_per_subject + 1)
        if own and len(self._sessions) - excess >= self._max:
            excess = max(excess, 1)  # full: the subject's new session takes its own oldest one's place
        for session_id in own[:excess]:
            del self._sessions[session_id]
        if len(self._sessions) >= self._max:
            raise SessionsFull(f"{len(self._sessions)} live dashboard sessions, the most this process holds")
        session_id = secrets.token_urlsafe(32)
        session = OperatorSession(
            token=token, csrf=secrets.token_urlsafe(32), subject=subject, created=now, last_seen=now
        )
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
