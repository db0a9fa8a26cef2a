"""`aosiq status` renders health without a stack: every part, anchor failures loud, text escaped."""

from __future__ import annotations

from rich.console import Console

from aos.v1 import health_pb2 as pb
from aosiq.cli_status import show


def rendered(health: pb.GetHealthResponse) -> str:
    console = Console(record=True, width=200, force_terminal=True, highlight=False)
    show(health, console)
    return console.export_text(styles=True)


def test_every_part_is_shown_and_failing_anchors_are_red() -> None:
    health = pb.GetHealthResponse(
        status="degraded", auth_mode="enforced",
        audit_anchors=pb.AnchorStats(successes=12, failures=2, store="s3", backlog=3),
        scheduler=pb.SchedulerStats(status="ok", workers=2, running=1, waiting_approval=4),
        services=[pb.ServiceHealth(name="kernel", status="ok"), pb.ServiceHealth(name="audit", status="down",
                                                                                detail="[bold]x[/]")],
        tool_servers=[pb.ToolServerHealth(name="git", state="failing", failures=5)],
        sandbox=pb.SandboxHealth(status="ok"),
    )
    text = rendered(health)
    plain = Console(record=True, width=200, highlight=False)
    show(health, plain)
    lines = plain.export_text()
    assert "12 written, 2 failed, backlog 3, last never" in lines
    assert "4 waiting for approval" in lines and "git: failing, 5 failures" in lines
    assert "audit down ([bold]x[/])" in lines  # service-supplied text is shown, not interpreted
    assert "\x1b[1;31m2 failed" in text  # the failures are bold red
    assert "\x1b[1;31mdegraded" in text


def test_a_healthy_runtime_shows_no_red() -> None:
    health = pb.GetHealthResponse(status="ok", auth_mode="enforced",
                                  audit_anchors=pb.AnchorStats(successes=1, store="s3"),
                                  scheduler=pb.SchedulerStats(status="ok"), sandbox=pb.SandboxHealth(status="ok"),
                                  services=[pb.ServiceHealth(name="kernel", status="ok")])
    text = rendered(health)
    assert "\x1b[1;31m" not in text and "0 failed" in text
