"""The shared service entry: a bad setting is one line and exit 2, never a
traceback; unknown commands print the usage; commands run as declared."""

from __future__ import annotations

import pytest

from aos_common.config import ConfigError
from aos_common.entry import EXIT_USAGE, Service, main


class Config:
    log_level = "warning"


def failing_load() -> Config:
    raise ConfigError("AOS_X must be a number, not 'y'")


async def serve(config: Config) -> None:
    served.append("serve")


async def worker(config: Config) -> None:
    served.append("worker")


served: list[str] = []


def service(load=Config) -> Service:
    return Service("demo", load, serve, runners={"worker": worker}, offline={"rotate": lambda: 7})


def test_a_bad_setting_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(service(failing_load), []) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == "demo: AOS_X must be a number, not 'y'\n"


@pytest.mark.parametrize("argv", [["nope"], ["worker", "extra"]])
def test_unknown_commands_print_the_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(service(), argv) == EXIT_USAGE
    assert capsys.readouterr().err == "usage: python -m demo [rotate|worker]\n"


def test_serve_runners_and_offline_commands() -> None:
    served.clear()
    assert main(service(), []) == 0 and main(service(), ["worker"]) == 0
    assert served == ["serve", "worker"]
    assert main(service(failing_load), ["rotate"]) == 7  # offline commands load no config
