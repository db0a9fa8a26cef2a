"""The stores' database toolkit: named statements from a `queries.sql` file, and
database failures as AosErrors.

A `queries.sql` file is a header of comments, then blocks: a `-- name: <name>`
line, optional `--` lines describing the statement (kept out of its text), and
the statement. `translate` turns what asyncpg raises into the domain error an
operator should see, by SQLSTATE as asyncpg's own exception table does: only a
database that cannot be reached is "unavailable; retry shortly"; a statement the
database cannot run (a programming error) is INTERNAL.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import asyncpg
import asyncpg.pool

from aos_common.errors import AlreadyExists, AosError, Internal, InvalidArgument, NotFound, Unavailable

_NAME = re.compile(r"-- name: (\w+)")


class Statements(Mapping[str, str]):
    """One file's statements by name; an unknown name is a KeyError saying which file lacks it."""

    def __init__(self, path: Path, statements: dict[str, str]):
        self._path = path
        self._statements = statements

    def __getitem__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise KeyError(f"{self._path} has no statement named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._statements)

    def __len__(self) -> int:
        return len(self._statements)


@functools.cache
def load_queries(path: Path) -> Statements:
    """The named statements of `path`, parsed once per path.

    Refuses (ValueError) a file whose blocks cannot be told apart: a repeated or
    malformed name, SQL before the first name, a name with no statement, or a
    comment after a statement (it would describe the next one from the wrong side)."""
    blocks: list[tuple[str, int, list[str]]] = []  # (name, its line number, the lines after it)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("-- name"):
            match = _NAME.fullmatch(line.rstrip())
            if match is None:
                raise ValueError(f"{path}:{number}: expected `-- name: <identifier>`, got {line!r}")
            blocks.append((match.group(1), number, []))
        elif blocks:
            blocks[-1][2].append(line)
        elif line.strip() and not line.startswith("--"):
            raise ValueError(f"{path}:{number}: SQL before the first `-- name:` line")
    statements: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for name, number, lines in blocks:
        if name in first_line:
            raise ValueError(f"{path}:{number}: statement {name!r} is already named on line {first_line[name]}")
        first_line[name] = number
        # The description: the comment lines between the name and the statement.
        text = "\n".join(itertools.dropwhile(lambda line: not line.strip() or line.startswith("--"), lines)).strip()
        if not text:
            raise ValueError(f"{path}:{number}: statement {name!r} is empty")
        if text.splitlines()[-1].startswith("--"):
            raise ValueError(f"{path}:{number}: {name!r} ends in a comment; "
                             "a statement's description goes after its `-- name:` line")
        statements[name] = text
    return Statements(path, statements)


# What the driver raises when a statement fails or the database is out of reach:
# what a store catches and hands to `translate`.
DRIVER_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

# A connection as the stores hold one: bare, or lent by a pool (the proxy a
# pool's acquire() yields, which forwards every call to its connection).
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# SQLSTATE (a full code, or its two-character class) -> the domain error it is.
# A full code is looked up before its class; a code in neither is INTERNAL.
SQLSTATE_ERRORS: Mapping[str, type[AosError]] = {
    "23505": AlreadyExists,  # unique_violation
    "23503": NotFound,  # foreign_key_violation: what the row refers to does not exist
    "23": InvalidArgument,  # integrity constraint violation: check, not null, exclusion
    "22": InvalidArgument,  # data exception: invalid text, numeric out of range, bad datetime
    "08": Unavailable,  # connection exception
    "53": Unavailable,  # insufficient resources: too_many_connections, disk full, out of memory
    "57": Unavailable,  # operator intervention: admin or crash shutdown, cannot_connect_now, query canceled
    "40001": Unavailable,  # serialization_failure: the same call may succeed when retried
    "40P01": Unavailable,  # deadlock_detected: likewise
}


def translate(error: Exception, database: str, extra: Mapping[str, type[AosError]] | None = None) -> AosError:
    """The AosError for a failure of the `database` (e.g. "kernel") while running a statement.

    `extra` adds a store's own SQLSTATEs (e.g. a trigger's), looked up first."""
    if isinstance(error, asyncpg.PostgresError):
        state = error.sqlstate or ""
        table = {**SQLSTATE_ERRORS, **(extra or {})}
        kind = table.get(state) or table.get(state[:2]) or Internal
        return _error(kind, database, state, str(error))
    # asyncpg refuses a value it cannot encode with its client-side DataError, a ValueError.
    if isinstance(error, ValueError):
        return _error(InvalidArgument, database, "", str(error))
    # A closed connection or a closing pool is an InterfaceError; a lost one an OSError.
    if isinstance(error, (OSError, asyncpg.InterfaceError)):
        return _error(Unavailable, database, "", "")
    return _error(Internal, database, "", type(error).__name__)


def _error(kind: type[AosError], database: str, state: str, detail: str) -> AosError:
    if kind is Unavailable:
        return Unavailable(f"the {database} database is unavailable; retry shortly")
    if kind is Internal:
        return Internal(f"the {database} database failed ({f'SQLSTATE {state}' if state else detail})")
    if kind is AlreadyExists:
        return AlreadyExists("it already exists")
    if kind is NotFound:
        return NotFound("a referenced record does not exist")
    return kind(f"refused by the {database} database: {detail}")
