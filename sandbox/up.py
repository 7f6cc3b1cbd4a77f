"""`make up`: Airflow's UI over these DAGs with the sandbox behind them, on 127.0.0.1 only.

Starts the emulators (scale SCALE) in this process, points the AIRFLOW_CONN_* variables and
FINANCE_INPUTS_DIR at them, migrates a local metadata DB under $DATA_DIR/airflow, creates the
`duckdb_writer` pool (1 slot), then runs `airflow standalone` until Ctrl-C. The login is printed by
Airflow (simple auth manager) on first start.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of


def up(sim: Path) -> None:
    from pipeline.airflow_local import configure

    home = configure()
    os.environ["FINANCE_INPUTS_DIR"] = str(sim / "finance")
    os.environ.setdefault("AIRFLOW__API__HOST", "127.0.0.1")  # the UI and API listen on loopback only
    os.environ.setdefault("AIRFLOW__API__PORT", "8080")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), os.environ["AIRFLOW__CORE__DAGS_FOLDER"]]
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(airflow).parent), os.environ.get("PATH", "")]
    )  # standalone re-runs `airflow`
    from pipeline.dbt import ensure_manifest

    ensure_manifest()  # the transform DAG renders its dbt models from it
    with (
        Sandbox(sim, faults="none", rate_limits=True) as box,
        connections_of(box, unthrottled=False),
    ):
        subprocess.run([airflow, "db", "migrate"], check=True)
        subprocess.run([airflow, "pools", "set", "duckdb_writer", "1", "DuckDB single writer"], check=True)
        print(f"sandbox emulators: {box.urls}; Airflow home {home}; UI on http://127.0.0.1:8080", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops Airflow, then the emulators
            subprocess.run([airflow, "standalone"], check=False)
