"""The local Airflow (`make demo`, `make run`, these tests) is configured not to print what is not the user's
concern (issue 25): a Fernet key of its own (no "empty cryptography key" warning at every run) and dag.test()'s
once-a-second retry poll below the printed level, while every other warning still prints."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_local_home_has_its_own_fernet_key_readable_by_its_owner_only(tmp_path):
    from pipeline.airflow_local import fernet_key, settings

    home = tmp_path / "airflow"  # not made yet: `make up` asks for the settings first
    key = fernet_key(home)
    assert settings(home)["AIRFLOW__CORE__FERNET_KEY"] == key == fernet_key(home)  # created once
    assert stat.S_IMODE((home / "fernet.key").stat().st_mode) == 0o600
    from cryptography.fernet import Fernet

    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_the_retry_poll_is_not_printed_and_other_warnings_are(tmp_path):
    probe = """
import logging
from pipeline.airflow_local import configure
configure()
import airflow.sdk  # configures Airflow's logging
from airflow.sdk.definitions import dag
dag.log.warning("No tasks to run. unrunnable tasks: probe")
logging.getLogger("airflow.models.crypto").warning("another warning")
dag.log.error("a failed task")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(PYTHONPATH=str(REPO), DATA_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    printed = out.stdout + out.stderr
    assert "No tasks to run" not in printed
    assert "another warning" in printed and "a failed task" in printed
