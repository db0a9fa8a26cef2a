"""Proves the tests hold every check of the verifier's C hot path.

Each mutant removes one check from audit_svc/_pagecheck.c, is compiled into a
scratch folder and loaded in place of the real module, and the verifier's unit
tests must then fail. A mutant the tests let through is a check nothing holds:
the script names it and exits 1.

    python scripts/pagecheck_mutants.py
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "audit_svc" / "_pagecheck.c"
TESTS = ["tests/unit/test_audit_pagecheck.py", "tests/unit/test_audit_verify.py"]

# name -> (text in the source, what replaces it); each text must occur exactly once.
MUTANTS = {
    "seq continuity": ("seq_value != expected ||", ""),
    "prev_hash link": ("||\n        memcmp(PyBytes_AS_STRING(prev_hash), prev, DIGEST_LEN) != 0)", ")"),
    "prev_hash length": ("if (PyBytes_GET_SIZE(prev_hash) != DIGEST_LEN ||", "if ("),
    "hash length": ("PyBytes_GET_SIZE(hash) != DIGEST_LEN ||", ""),
    "hash compare": (
        "return digest_len == DIGEST_LEN && memcmp(digest, PyBytes_AS_STRING(hash), DIGEST_LEN) == 0;",
        "return 1;",
    ),
    "tag hashed": ("!EVP_DigestUpdate(ctx, page->tag.buf, (size_t)page->tag.len) ||", ""),
    "seq hashed": ("!EVP_DigestUpdate(ctx, seq_bytes, sizeof seq_bytes) ||", ""),
    "session suffix": ("if (text_len < suffix->len ||", "if (0 &&"),
    "event_type present": ("if (key == NULL)\n        return 0;", "if (key == NULL)\n        return 1;"),
    "event_type value": ("|| memcmp(value, type_text, (size_t)type_len) != 0 ||", "||"),
    "event_type end": ("memcmp(value + type_len, page->type_end.buf, (size_t)page->type_end.len) != 0)", "0)"),
    "record is bytes": ("!PyBytes_CheckExact(record) ||", ""),
}

# Loads the mutant under the real module's name before anything imports it.
RUNNER = """
import importlib.util, sys
import audit_svc
spec = importlib.util.spec_from_file_location("audit_svc._pagecheck", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["audit_svc._pagecheck"] = module
import pytest
sys.exit(pytest.main(["-q", "-x", "-p", "no:cacheprovider", *sys.argv[2:]]))
"""


def build(source: str, target: Path) -> None:
    include = sysconfig.get_paths()["include"]
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-w", f"-I{include}", "-x", "c", "-", "-lcrypto", "-o", str(target)],
        input=source.encode(),
        check=True,
    )


def tests_pass(source: str, scratch: str, label: str) -> bool:
    target = Path(scratch) / f"_pagecheck_{label}{sysconfig.get_config_var('EXT_SUFFIX')}"
    build(source, target)
    run = subprocess.run(
        [sys.executable, "-c", RUNNER, str(target), f"--basetemp={scratch}/tmp_{label}", *TESTS],
        cwd=ROOT,
        capture_output=True,
    )
    return run.returncode == 0


def main() -> int:
    original = SOURCE.read_text()
    survivors = []
    with tempfile.TemporaryDirectory() as scratch:
        # The control: the unchanged source, built and loaded the same way, must pass,
        # or a failure below would say nothing about the mutant.
        if not tests_pass(original, scratch, "control"):
            print(f"the unchanged {SOURCE.name}, built and loaded as the mutants are, fails the tests")
            return 1
        for number, (name, (text, replacement)) in enumerate(MUTANTS.items()):
            if original.count(text) != 1:
                print(f"{name}: its text no longer occurs once in {SOURCE.name}; update this script")
                return 1
            caught = not tests_pass(original.replace(text, replacement), scratch, str(number))
            print(f"{'caught' if caught else 'SURVIVED'}: without the {name} check")
            if not caught:
                survivors.append(name)
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants of {SOURCE.name} caught by the tests")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
