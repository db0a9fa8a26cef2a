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
