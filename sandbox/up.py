"""`make up`: Airflow's UI over these DAGs with the sandbox behind them, on 127.0.0.1 only.

Starts the emulators (scale SCALE) in this process, points the AIRFLOW_CONN_* variables and
FINANCE_INPUTS_DIR at them, then Airflow's scheduler, DAG processor, triggerer and API server as their own
processes (pipeline.airflow_services: LocalExecutor, 2 workers, metadata in SQLite under $DATA_DIR/airflow),
until Ctrl-C or until one of them dies (then it says which and stops the rest). The admin password is in
$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated (mode 0600).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of


def up(sim: Path) -> None:
    from pipeline.airflow_local import configure
    from pipeline.airflow_services import Services
    from pipeline.dbt import ensure_manifest

    home = configure()
    os.environ["FINANCE_INPUTS_DIR"] = str(sim / "finance")
    ensure_manifest()  # the transform DAG renders its dbt models from it
    port = int(os.environ.get("AIRFLOW__API__PORT", "8080"))
    with (
        Sandbox(sim, faults="none", rate_limits=True) as box,
        connections_of(box, unthrottled=False),
        Services(home, port=port) as airflow,
        contextlib.suppress(KeyboardInterrupt),  # Ctrl-C stops Airflow, then the emulators
    ):
        print(
            f"sandbox emulators: {box.urls}\nAirflow home {home}; UI on {airflow.url} as admin, password in"
            f" {airflow.password_file} (mode 0600); process logs in {airflow.log_dir}",
            flush=True,
        )
        while not (dead := airflow.dead()):
            time.sleep(5)
        print(f"Airflow components exited: {dead}; see {airflow.log_dir}", flush=True)
