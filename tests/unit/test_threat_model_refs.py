"""Every file, test and function docs/THREAT_MODEL.md points at exists, so a
claim cannot outlive the code or the test that proves it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "THREAT_MODEL.md"
# `path.py`, `path.py::name`, or `::name` continuing the nearest file before it.
REFERENCE = re.compile(r"`(?:([A-Za-z0-9_./-]+\.(?:py|sql|yaml|md))|)(?:::([A-Za-z0-9_]+))?`")


def defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def test_every_reference_exists() -> None:
    missing: list[str] = []
    checked = 0
    for line in DOC.read_text().splitlines():
        current: Path | None = None
        for match in REFERENCE.finditer(line):
            file_part, name = match.groups()
            if file_part:
                current = ROOT / file_part
                checked += 1
                if not current.exists():
                    missing.append(file_part)
                    continue
            if name and current is not None and current.suffix == ".py" and current.exists():
                checked += 1
                if name not in defined_names(current):
                    missing.append(f"{current.relative_to(ROOT)}::{name}")
    assert checked > 50
    assert missing == []


def test_every_in_scope_property_names_a_test() -> None:
    sections = DOC.read_text().split("### ")[1:]
    for section in sections:
        assert "tests/" in section, section.splitlines()[0]
