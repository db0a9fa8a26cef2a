"""Shell completion installs with one command and completes the CLI's own words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The console script pip installs: completion is keyed by the program's name.
AOSIQ = str(Path(sys.executable).parent / "aosiq")


def aosiq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AOSIQ, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, check=False)


def test_install_completion_writes_the_script_for_the_shell(tmp_path: Path) -> None:
    installed = aosiq("--install-completion", "bash", env={"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert installed.returncode == 0, installed.stderr
    script = (tmp_path / ".bash_completions" / "aosiq.sh").read_text()
    assert "_aosiq_completion" in script
    assert ".bash_completions/aosiq.sh" in (tmp_path / ".bashrc").read_text()


def test_the_script_completes_commands_and_subcommands(tmp_path: Path) -> None:
    def complete(words: str) -> list[str]:
        done = aosiq(env={"HOME": str(tmp_path), "_AOSIQ_COMPLETE": "complete_bash", "COMP_WORDS": words,
                          "COMP_CWORD": str(len(words.split()) - 1)})
        return done.stdout.split()

    assert complete("aosiq sta") == ["status"]
    assert "approve" in complete("aosiq approvals app")
