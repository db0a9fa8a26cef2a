"""The database schema as the migrations leave it, in a stable text form.

`python -m aosiq.schema_dump DSN > migrations/snapshot/schema.sql` refreshes the
committed snapshot; a test applies every migration to an empty database and
compares. pg_dump comes from the embedded PostgreSQL's own binaries, so the
dump's format matches the server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parent.parent / "migrations" / "snapshot" / "schema.sql"
_VOLATILE_PREFIXES = ("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")


def pg_dump_binary() -> str:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    if found is None:
        raise RuntimeError("pg_dump is not available")
    return found


def normalize(dump: str) -> str:
    """Drop comments, session settings and blank runs: what is left is the schema."""
    lines = [line.rstrip() for line in dump.splitlines() if not line.startswith(_VOLATILE_PREFIXES)]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def dump_schema(dsn: str) -> str:
    result = subprocess.run(
        [pg_dump_binary(), "--schema-only", "--no-owner", "--exclude-schema=public", dsn],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return normalize(result.stdout)


if __name__ == "__main__":
    sys.stdout.write(dump_schema(sys.argv[1]))
