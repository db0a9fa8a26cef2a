"""Operator sessions: expiry, eviction, CSRF comparison, and no token in their repr."""

from __future__ import annotations

from gateway.dashboard.session import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_session_ids_are_random_and_not_the_token():
    store = SessionStore()
    first, session = store.create("tok-secret")
    second, _ = store.create("tok-secret")
    assert first != second and "tok-secret" not in first
    assert store.get(first) is session and session.token == "tok-secret"
    assert "tok-secret" not in repr(session) and session.csrf not in repr(session)


def test_idle_and_absolute_expiry():
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_age_seconds=300, clock=clock)
    sid, _ = store.create("t")
    clock.now += 59
    assert store.get(sid) is not None  # touching it restarts the idle window
    clock.now += 59
    assert store.get(sid) is not None
    clock.now += 61
    assert store.get(sid) is None

    sid, _ = store.create("t")
    for _ in range(7):
        clock.now += 50
        store.get(sid)
    assert store.get(sid) is None  # active, but older than max_age


def test_oldest_session_is_evicted_at_the_bound():
    store = SessionStore(max_sessions=2)
    oldest, _ = store.create("a")
    store.create("b")
    store.create("c")
    assert len(store) == 2 and store.get(oldest) is None


def test_drop_and_unknown_ids():
    store = SessionStore()
    sid, _ = store.create("t")
    store.drop(sid)
    store.drop(None)
    assert store.get(sid) is None and store.get(None) is None and store.get("") is None


def test_csrf_matches_only_the_exact_token():
    _, session = SessionStore().create("t")
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf + "x")


def test_background_reads_do_not_keep_an_idle_session_alive():
    clock = Clock()
    store = SessionStore(idle_seconds=60, clock=clock)
    sid, _ = store.create("t")
    clock.now += 40
    assert store.get(sid, touch=False) is not None
    clock.now += 40
    assert store.get(sid, touch=False) is None  # 80s since the operator last did anything
