"""aos_common/sql.py: the one query loader and the one SQLSTATE -> AosError table the stores share."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from aos_common.errors import AlreadyExists, InvalidArgument, InvalidTransition, NotFound, Unavailable
from aos_common.sql import load_queries, translate


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queries.sql"
    path.write_text(text)
    return path


def test_named_blocks_keep_their_description_out_of_the_sql(tmp_path: Path) -> None:
    path = write(tmp_path, """-- The header says what the file is.

-- name: first
-- What first does,
-- over two lines.
SELECT 1
  FROM kernel.workers;

-- name: second
SELECT 2;
""")
    assert dict(load_queries(path)) == {"first": "SELECT 1\n  FROM kernel.workers;", "second": "SELECT 2;"}


def test_a_file_is_parsed_once(tmp_path: Path) -> None:
    path = write(tmp_path, "-- name: one\nSELECT 1;\n")
    first = load_queries(path)
    path.write_text("-- name: other\nSELECT 2;\n")
    assert load_queries(path) is first


def test_a_repeated_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "-- name: twice\nSELECT 1;\n\n-- name: twice\nSELECT 2;\n")
    with pytest.raises(ValueError, match=r"queries.sql:4: statement 'twice' is already named on line 1"):
        load_queries(path)


@pytest.mark.parametrize(("text", "complaint"), [
    ("-- name: two words\nSELECT 1;\n", "expected `-- name: <identifier>`"),
    ("-- name:\nSELECT 1;\n", "expected `-- name: <identifier>`"),
    ("SELECT 0;\n-- name: one\nSELECT 1;\n", "SQL before the first `-- name:` line"),
    ("-- name: empty\n-- only a description\n\n-- name: one\nSELECT 1;\n", "statement 'empty' is empty"),
    ("-- name: one\nSELECT 1;\n-- describes two, from the wrong side\n-- name: two\nSELECT 2;\n",
     "'one' ends in a comment"),
])
def test_blocks_that_cannot_be_told_apart_are_refused(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        load_queries(write(tmp_path, text))


def test_an_unknown_name_is_a_key_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "-- name: known\nSELECT 1;\n")
    with pytest.raises(KeyError, match=r"queries.sql has no statement named 'unknown'"):
        load_queries(path)["unknown"]


def server_error(sqlstate: str, message: str = "the server's words") -> asyncpg.PostgresError:
    """An error as asyncpg builds it from the server's ErrorResponse."""
    return asyncpg.PostgresError.new({"C": sqlstate, "M": message})


@pytest.mark.parametrize(("sqlstate", "kind"), [
    ("23505", AlreadyExists),  # unique_violation
    ("23503", NotFound),  # foreign_key_violation
    ("23514", InvalidArgument),  # check_violation
    ("23502", InvalidArgument),  # not_null_violation
    ("22P02", InvalidArgument),  # invalid_text_representation
    ("22003", InvalidArgument),  # numeric_value_out_of_range
    ("22007", InvalidArgument),  # invalid_datetime_format
    ("08006", Unavailable),  # connection_failure
    ("08003", Unavailable),  # connection_does_not_exist
    ("57P01", Unavailable),  # admin_shutdown
    ("57P03", Unavailable),  # cannot_connect_now
    ("53300", Unavailable),  # too_many_connections
    ("40001", Unavailable),  # serialization_failure
    ("40P01", Unavailable),  # deadlock_detected
])
def test_each_class_of_sqlstate_is_its_domain_error(sqlstate: str, kind: type) -> None:
    error = translate(server_error(sqlstate), "kernel")
    assert type(error) is kind


@pytest.mark.parametrize("sqlstate", [
    "42703",  # undefined_column
    "42601",  # syntax_error
    "42P01",  # undefined_table
    "42501",  # insufficient_privilege
    "42883",  # undefined_function
    "XX000",  # internal_error
    "AOS01",  # a store's own code, when the store does not name it
])
def test_a_statement_the_database_cannot_run_is_internal_never_unavailable(sqlstate: str) -> None:
    error = translate(server_error(sqlstate), "kernel")
    assert error.reason == "INTERNAL"
    assert "retry" not in error.message and sqlstate in error.message


def test_a_store_adds_its_own_sqlstates_first() -> None:
    refusal = server_error("AOS01", "agent_processes: running -> runnable is not a transition")
    error = translate(refusal, "kernel", {"AOS01": InvalidTransition})
    assert type(error) is InvalidTransition
    assert "running -> runnable is not a transition" in error.message


@pytest.mark.parametrize(("failure", "kind"), [
    (ConnectionRefusedError(111, "Connection refused"), Unavailable),
    (TimeoutError(), Unavailable),
    (asyncpg.InterfaceError("cannot perform operation: connection is closed"), Unavailable),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), Unavailable),
])
def test_a_database_out_of_reach_is_unavailable(failure: Exception, kind: type) -> None:
    error = translate(failure, "audit")
    assert type(error) is kind
    assert error.message == "the audit database is unavailable; retry shortly"


def test_a_value_the_driver_cannot_encode_is_invalid_argument() -> None:
    # asyncpg's client-side DataError: an InterfaceError that is also a ValueError.
    from asyncpg.exceptions._base import DataError

    error = translate(DataError("invalid input for query argument $1: 'x' (an integer is required)"), "policy")
    assert type(error) is InvalidArgument
    assert "invalid input for query argument $1" in error.message
