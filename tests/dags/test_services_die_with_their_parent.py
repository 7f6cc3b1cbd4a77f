"""Airflow's processes end with the process that started them (`make up`, a test), even when it is killed with
SIGKILL and has no chance to stop them. Before: PR_SET_PDEATHSIG alone; the scheduler, DAG processor,
triggerer and API server outlived a killed pytest and needed kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.airflow_services import GRACE_SECONDS, descendants

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STARTER = """
import sys, time
from pathlib import Path
from pipeline.airflow_services import Services
Services(Path(sys.argv[1])).start()
print("up", flush=True)
time.sleep(900)
"""
# What PR_SET_PDEATHSIG and a process group miss: a process that ignores SIGTERM, and one in a session of its own
# (Airflow's task processes call setsid) that would be reparented away from the component that started it.
STUBBORN = "trap '' TERM; setsid bash -c \"trap '' TERM; sleep 900\" & sleep 900"
GUARD_STARTER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-m", "pipeline.airflow_services", "guard", "bash", "-c", sys.argv[1]],
                 stdin=subprocess.PIPE)
print("up", flush=True)
time.sleep(900)
"""


def alive(pid: int) -> bool:
    """Running (a zombie has ended: only its exit status waits for a parent that may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def test_every_airflow_process_ends_when_the_process_that_started_them_is_killed(tmp_path):
    left = kill_and_watch([STARTER, str(tmp_path / "airflow")], settle=5, wait=GRACE_SECONDS + 20)
    assert not left["survivors"], left
    for component in ("scheduler", "dag-processor", "triggerer", "api"):
        assert component in " ".join(left["commands"]), left["commands"]


def test_the_guard_ends_a_process_that_ignores_sigterm_and_one_in_its_own_session():
    """Before: PR_SET_PDEATHSIG and the component's process group; both of these processes outlived it."""
    left = kill_and_watch([GUARD_STARTER, STUBBORN], settle=1, wait=GRACE_SECONDS + 10)
    assert [c for c in left["commands"] if c.strip() == "sleep 900"] == ["sleep 900 "] * 2, left["commands"]
    assert not left["survivors"], left


def kill_and_watch(starter_args: list[str], settle: float, wait: float) -> dict:
    """Run a starter script (it prints "up" once its processes run), SIGKILL it, and return the processes below
    it that are still alive `wait` seconds later (none, if they end with it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    starter = subprocess.Popen([sys.executable, "-c", *starter_args], stdout=subprocess.PIPE, text=True, env=env,
                               cwd=REPO)  # fmt: skip
    tree: list[int] = []
    try:
        assert starter.stdout.readline().strip() == "up", "the starter did not start its processes"
        time.sleep(settle)  # their own children (workers, the setsid child) are up too
        tree = descendants(starter.pid)
        commands = [command_line(p) for p in tree]
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + wait
        while (left := [p for p in tree if alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.5)
        return {"commands": commands, "survivors": [(p, command_line(p)) for p in left]}
    finally:  # whatever happened, leave nothing running
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
