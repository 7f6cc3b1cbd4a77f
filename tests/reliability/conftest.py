"""The reliability suite's tally: each case says what it tried and what it checked; the totals print at
the end of the run and go to $RELIABILITY_REPORT (JSON) when that is set."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

COUNTS = ("trials", "faults_injected", "records_checked", "failures")
_TALLY: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))


class Tally:
    def __init__(self, case: str):
        self.case = case
        _TALLY[case]  # listed even when it ends with zero counts

    def add(self, **counts: int) -> None:
        for k, v in counts.items():
            _TALLY[self.case][k] += v

    def say(self, text: str) -> None:
        print(f"[{self.case}] {text}", flush=True)


@pytest.fixture
def tally(request) -> Tally:
    t = Tally(request.node.name.removeprefix("test_"))
    yield t
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        t.add(failures=1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter):
    if not _TALLY:
        return
    tr = terminalreporter
    tr.section("reliability: counts")
    tr.write_line(f"{'case':<70} " + " ".join(f"{c:>16}" for c in COUNTS))
    for case, counts in _TALLY.items():
        tr.write_line(f"{case[:70]:<70} " + " ".join(f"{counts[c]:>16,}" for c in COUNTS))
    totals = {c: sum(v[c] for v in _TALLY.values()) for c in COUNTS}
    tr.write_line(f"{'total':<70} " + " ".join(f"{totals[c]:>16,}" for c in COUNTS))
    if out := os.environ.get("RELIABILITY_REPORT"):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"cases": dict(_TALLY), "total": totals}, indent=2) + "\n")
