"""How the CLI reaches a gateway that serves TLS (tests/integration/test_gateway_process.py runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aosiq.client import EXIT_USAGE, gateway_channel


def test_an_unreadable_ca_file_is_one_line_and_a_usage_exit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AOS_GRPC_CA_FILE", str(tmp_path / "missing.crt"))
    with pytest.raises(SystemExit) as exited:
        gateway_channel("127.0.0.1:1")
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: AOS_GRPC_CA_FILE: cannot read")


def test_id_columns_are_never_cut_even_on_a_narrow_terminal() -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    from aosiq.client import id_column, print_table

    agent, session = "0b9f7c1e-6d2a-4b8e-9f4a-3c2d1e0f9a8b", "7e6d5c4b-3a29-4180-8f7e-6d5c4b3a2918"
    table = Table(id_column("agent_id"), "class", "state", "cost_usd", id_column("session_id"))
    table.add_row(agent, "a-rather-long-class-name", "waiting_approval", "0.000123", session)
    out = io.StringIO()
    print_table(table, Console(file=out, width=60, highlight=False))
    lines = out.getvalue().splitlines()
    assert any(agent in line for line in lines) and any(session in line for line in lines)
