"""Evidence checks on an agent's final answer.

An answer is grounded when it cites at least one `[evidence: N]` and every
cited N is the number of a tool result this agent actually received and that
succeeded. The checks are structural: they prove the agent looked, not that
its conclusion is right (docs/KERNEL.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kernel_svc.checkpoint import ResultRecord

CITATION = re.compile(r"\[\s*evidence\s*:\s*(\d+(?:\s*,\s*\d+)*)\s*\]", re.IGNORECASE)

NUDGE = (
    "Your answer is not grounded: {problem}. Investigate with your tools before proposing, then answer "
    "citing the tool results you relied on as [evidence: N], where N is the number of the result."
)


@dataclass(frozen=True)
class Verdict:
    grounded: bool
    cited: tuple[int, ...]
    problem: str = ""


def cited_indices(answer: str) -> tuple[int, ...]:
    found: list[int] = []
    for match in CITATION.finditer(answer):
        found.extend(int(part) for part in match.group(1).split(","))
    return tuple(dict.fromkeys(found))


def check(answer: str, results: Sequence[ResultRecord]) -> Verdict:
    cited = cited_indices(answer)
    if not results:
        return Verdict(False, cited, "no tool was used, so there is no evidence")
    if not cited:
        return Verdict(False, cited, "it cites no evidence")
    by_index = {r.index: r for r in results}
    missing = [n for n in cited if n not in by_index]
    if missing:
        return Verdict(False, cited, f"it cites result(s) {missing} that do not exist")
    failed = [n for n in cited if not by_index[n].ok]
    if failed:
        return Verdict(False, cited, f"it cites result(s) {failed} that were errors or refusals")
    return Verdict(True, cited)
