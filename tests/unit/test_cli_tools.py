"""`aosiq tools` argument parsing: bad input is a usage error naming what is wrong,
before anything is sent."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from aosiq.cli import app
from aosiq.cli_classes import parse_limits
from aosiq.cli_tools import parse_override, parse_pairs


def test_pairs() -> None:
    assert parse_pairs(["A=1", "B=x=y", "C="], "--env") == {"A": "1", "B": "x=y", "C": ""}
    for bad in (["A"], ["=v"]):
        with pytest.raises(typer.BadParameter):
            parse_pairs(bad, "--env")


def test_sandbox_limits() -> None:
    assert parse_limits(["memory_mb=128", "wall_s=2.5"]) == {"memory_mb": 128.0, "wall_s": 2.5}
    for bad in (["memory_mb"], ["memory_mb=lots"], ["=1"]):
        with pytest.raises(typer.BadParameter):
            parse_limits(bad)


def test_overrides() -> None:
    tool, override = parse_override("git_add:reversible=true,blast_radius=medium")
    assert tool == "git_add" and override.reversible is True and override.blast_radius == "medium"
    assert not override.HasField("idempotent")
    for bad in ("git_add", "git_add:", ":reversible=true", "t:colour=red", "t:reversible=yes", "t:idempotent"):
        with pytest.raises(typer.BadParameter):
            parse_override(bad)


def test_register_needs_exactly_one_transport() -> None:
    runner = CliRunner()
    for args in (["tools", "register", "x"], ["tools", "register", "x", "--http", "http://h/", "--", "cmd"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "either a command" in result.output
