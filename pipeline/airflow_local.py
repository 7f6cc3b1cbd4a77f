"""Run the real DAGs in-process (`dag.test()`), without a scheduler: the demo, `make run` and the tests.

Airflow keeps its metadata in SQLite under $DATA_DIR/airflow; the DAG files are this repo's `dags/`.
`configure()` must run before anything imports airflow (Airflow reads its settings at import).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest.errors import ExpectedError

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"


class DagRunFailed(RuntimeError, ExpectedError):
    """A DAG run did not succeed; its failed tasks logged their errors as they ran."""


def settings(home: Path) -> dict[str, str]:
    """Airflow's settings for this project (the one place): `configure()` and the services of `make up`."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",  # no lineage backend here; keeps logs quiet
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "cs-profit-center",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # as in the image: no calls home
    }


def configure(data_dir: Path | None = None) -> Path:
    """Point Airflow at a local home under DATA_DIR and at this repo's DAGs (idempotent)."""
    from settings import data_dir as default_data_dir

    home = Path(data_dir or default_data_dir()).resolve() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    for key, value in settings(home).items():
        os.environ.setdefault(key, value)
    if str(DAGS) not in sys.path:  # as Airflow does for its DAG folder: DAG files import pipeline_defaults
        sys.path.insert(0, str(DAGS))
    return home


def migrate() -> None:
    """Create or upgrade the metadata DB (a no-op when it is current)."""
    from airflow.utils.db import upgradedb

    upgradedb()


def dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run(dag_id: str, logical_date=None, conf: dict | None = None) -> str:
    """`dag.test()` one DAG run; returns its state and raises when it did not succeed."""
    dag = dags()[dag_id]
    dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    state = str(dag_run.state)
    if not state.endswith("success"):
        failed = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state).endswith("failed")]
        raise DagRunFailed(f"{dag_id} ended {state}; failed tasks: {failed} (their logs above say why)")
    return state
