"""The MCP walk-through, run as written (examples/mcp_git.sh) against a stack
started by `aosiq up`: register mcp-server-git, approve its definitions, an
agent reads the log and commits after an approval, the chain verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]


def test_mcp_git_walkthrough_runs_end_to_end(stack: RunningStack) -> None:
    env = {**os.environ, "AOS_HOME": str(stack.home), "AOSIQ": str(Path(sys.executable).parent / "aosiq")}
    for key in ("AOS_TOKEN", "AOS_GRPC_ADDRESS"):
        env.pop(key, None)
    result = subprocess.run(["bash", str(ROOT / "examples" / "mcp_git.sh")], env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "nothing committed yet" in result.stdout
    assert "Add a changelog (AOSIQ agent)" in result.stdout
    repos = list(stack.workspace.glob("demo-repo-*"))
    assert len(repos) == 1
    log = subprocess.run(["git", "-C", str(repos[0]), "log", "--format=%s"], capture_output=True, text=True)
    assert log.stdout.split() == ["Add", "a", "changelog", "Initial", "commit"]


def test_the_readme_points_at_the_walkthrough() -> None:
    assert "examples/mcp_git.sh" in (ROOT / "README.md").read_text()
