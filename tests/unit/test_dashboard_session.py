"""Operator sessions: expiry, eviction, CSRF comparison, and no token in their repr."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.dashboard.session import SessionsFull, SessionStore, token_subject


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_session_ids_are_random_and_not_the_token():
    store = SessionStore()
    first, session = store.create("tok-secret", "sub:op")
    second, _ = store.create("tok-secret", "sub:op")
    assert first != second and "tok-secret" not in first
    assert store.get(first) is session and session.token == "tok-secret"
    assert "tok-secret" not in repr(session) and session.csrf not in repr(session)


def test_idle_and_absolute_expiry():
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_age_seconds=300, clock=clock)
    sid, _ = store.create("t", "sub:op")
    clock.now += 59
    assert store.get(sid) is not None  # touching it restarts the idle window
    clock.now += 59
    assert store.get(sid) is not None
    clock.now += 61
    assert store.get(sid) is None

    sid, _ = store.create("t", "sub:op")
    for _ in range(7):
        clock.now += 50
        store.get(sid)
    assert store.get(sid) is None  # active, but older than max_age


def test_a_subjects_oldest_session_is_ended_at_its_own_bound():
    store = SessionStore(max_per_subject=2)
    oldest, _ = store.create("a", "sub:op")
    second, _ = store.create("a", "sub:op")
    store.create("a", "sub:op")
    assert len(store) == 2 and store.get(oldest) is None and store.get(second) is not None


def test_many_sign_ins_by_one_subject_never_end_another_subjects_session():
    # Issue 13, item 10: 1,001 logins by a low-privilege token evicted the admin's session.
    store = SessionStore()
    admin, _ = store.create("admin-token", "sub:admin")
    for _ in range(1001):
        store.create("reader-token", "sub:reader")
    assert store.get(admin) is not None
    assert len(store) == 11


def test_a_full_store_refuses_a_new_subject_instead_of_evicting_anyone():
    store = SessionStore(max_sessions=3, max_per_subject=2)
    held = [store.create("t", f"sub:{name}")[0] for name in ("a", "b", "c")]
    with pytest.raises(SessionsFull):
        store.create("t", "sub:d")
    assert all(store.get(sid) is not None for sid in held)
    # A subject already holding a session may still replace its own oldest one.
    store.create("t", "sub:a")
    assert store.get(held[0]) is None and store.get(held[1]) is not None and store.get(held[2]) is not None


def test_expired_sessions_make_room_before_anything_is_refused():
    clock = Clock()
    store = SessionStore(max_sessions=1, idle_seconds=60, clock=clock)
    store.create("t", "sub:a")
    clock.now += 61
    sid, _ = store.create("t", "sub:b")
    assert store.get(sid) is not None


def _jwt(claims: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{payload}.sig"


def test_token_subject_is_the_jwt_sub_or_a_digest_of_an_unreadable_token():
    assert token_subject(_jwt({"sub": "alice@ops", "jti": "1"})) == "sub:alice@ops"
    assert token_subject(_jwt({"sub": "alice@ops", "jti": "2"})) == "sub:alice@ops"
    for odd in ("not-a-jwt", "a.!!!.c", _jwt({"sub": 5}), _jwt({"jti": "x"}), "a.W10.c"):
        subject = token_subject(odd)
        assert subject.startswith("token:") and odd not in subject


def test_drop_and_unknown_ids():
    store = SessionStore()
    sid, _ = store.create("t", "sub:op")
    store.drop(sid)
    store.drop(None)
    assert store.get(sid) is None and store.get(None) is None and store.get("") is None


def test_csrf_matches_only_the_exact_token():
    _, session = SessionStore().create("t", "sub:op")
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf + "x")


def test_background_reads_do_not_keep_an_idle_session_alive():
    clock = Clock()
    store = SessionStore(idle_seconds=60, clock=clock)
    sid, _ = store.create("t", "sub:op")
    clock.now += 40
    assert store.get(sid, touch=False) is not None
    clock.now += 40
    assert store.get(sid, touch=False) is None  # 80s since the operator last did anything
