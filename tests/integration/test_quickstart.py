"""The README's quick start, run as written (examples/quickstart.sh) against a
stack started by `aosiq up`: health, a class, an agent that asks to delete a
file, approval from the CLI, completion, and a verified audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_script_runs_end_to_end(stack: RunningStack) -> None:
    env = {**os.environ, "AOS_HOME": str(stack.home), "AOSIQ": str(Path(sys.executable).parent / "aosiq")}
    for key in ("AOS_TOKEN", "AOS_GRPC_ADDRESS"):
        env.pop(key, None)
    result = subprocess.run(["bash", str(ROOT / "examples" / "quickstart.sh")], env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "notes/old.txt is gone" in result.stdout
    assert not (stack.workspace / "notes" / "old.txt").exists()
    assert (stack.workspace / "notes" / "q3.txt").exists()


def test_quickstart_is_what_the_readme_says(stack: RunningStack) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "examples/quickstart.sh" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/aosiq up" in readme
