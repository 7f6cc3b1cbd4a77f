"""A bench stage past its timeout is killed with its children and recorded as failed: the run goes on, never hangs."""

from __future__ import annotations

import os
import sys
import time

from bench.__main__ import measure

# a stage that starts a child (as a dbt stage does) and waits for it far past the timeout; the child writes its pid
STUCK = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
child.wait()
"""


def test_a_stage_past_its_timeout_is_killed_with_its_children_and_recorded_failed(tmp_path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    m = measure("stuck", [sys.executable, "-c", STUCK, str(pid_file)], dict(os.environ), tmp_path / "stuck.log", 2)
    assert time.monotonic() - started < 30
    assert m["failed"] == "timed out after 2 s" and m["log"] == str(tmp_path / "stuck.log")
    child = int(pid_file.read_text())
    for _ in range(50):  # the child was in the stage's process group: killed too (a zombie until init reaps it)
        if not alive(child):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the stage's child outlived the timeout")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # the state, after the command's name
    except FileNotFoundError:
        return False


def test_a_stage_within_its_timeout_reports_its_summary(tmp_path):
    m = measure("quick", [sys.executable, "-c", "print('{\"rows\": 3}')"], dict(os.environ), tmp_path / "q.log", 30)
    assert "failed" not in m and m["rows"] == 3


def test_a_small_stage_is_not_charged_the_bench_process_memory(tmp_path):
    """Linux starts a child's ru_maxrss at its parent's peak: a bench that generated demo first (574 MiB) charged
    every smaller stage exactly that. A stage's peak is its own."""
    ballast = bytearray(600 * 2**20)  # touched: resident in this process, the stage's parent
    ballast[::4096] = b"x" * len(ballast[::4096])
    child = "import time; time.sleep(0.3)"  # a few MiB, alive long enough to be sampled
    m = measure("small", [sys.executable, "-c", child], dict(os.environ), tmp_path / "s.log", 30)
    del ballast
    assert 0 < m["peak_rss_mib"] < 300, m
