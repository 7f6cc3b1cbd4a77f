"""Run the real DAGs in-process (`dag.test()`), without a scheduler: the demo, `make run` and the tests.

Airflow keeps its metadata in SQLite under $DATA_DIR/airflow; the DAG files are this repo's `dags/`.
`configure()` must run before anything imports airflow (Airflow reads its settings at import).
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from ingest.errors import ExpectedError

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"


class DagRunFailed(RuntimeError, ExpectedError):
    """A DAG run did not succeed: which tasks failed, why (the first error logged while it ran) and where the
    run's log is."""

    def __init__(self, dag_id: str, state: str, tasks: list[str], why: str | None, log: Path):
        self.dag_id, self.state, self.tasks, self.why, self.log = dag_id, state, tasks, why, log
        super().__init__(f"{dag_id} ended {state}; failed tasks: {tasks}; log: {log}")


def fernet_key(home: Path) -> str:
    """This home's own Fernet key (created once, readable by its owner only): Airflow encrypts connection
    passwords and variables in its metadata DB with it. Without one it stores them in clear and says so at every
    run. Kept in the home, never in the repo or on a command line."""
    path = home / "fernet.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        home.mkdir(parents=True, exist_ok=True)  # `make up` asks before anything has made the home
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: theirs is the key
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
    return path.read_text().strip()


def settings(home: Path) -> dict[str, str]:
    """Airflow's settings for this project (the one place): `configure()` and the services of `make up`."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(home),
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
    # in-process runs only: dag.test()'s once-a-second retry poll (pipeline/airflow_logging.py says why)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS", "pipeline.airflow_logging.LOGGING_CONFIG")
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


def run_log(dag_id: str) -> Path:
    """The log of a DAG's latest local run: `dag.test()` runs tasks in this process and keeps no task log files."""
    return Path(os.environ["AIRFLOW_HOME"]) / "logs" / f"{dag_id}.latest.log"


class _FirstError(logging.Handler):
    """Why a run failed: the first failure alert's `failure` (task and error, credentials redacted:
    pipeline/alerts.py), else the first ERROR record's first line."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None
        self.alerted = False

    def emit(self, record: logging.LogRecord) -> None:
        failure = getattr(record, "failure", None)
        if failure and not self.alerted:
            self.message, self.alerted = failure, True
        elif self.message is None:
            self.message = record.getMessage().splitlines()[0][:500]


@contextmanager
def logged_to(path: Path):
    """Also write what this process logs (at the configured level) to `path` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    to_file = logging.FileHandler(path, mode="w", encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    first_error = _FirstError()
    root.addHandler(to_file)
    root.addHandler(first_error)
    try:
        yield first_error
    finally:
        root.removeHandler(to_file)
        root.removeHandler(first_error)
        to_file.close()


def run(dag_id: str, logical_date=None, conf: dict | None = None) -> str:
    """`dag.test()` one DAG run; returns its state and raises DagRunFailed when it did not succeed."""
    dag = dags()[dag_id]
    log = run_log(dag_id)
    with logged_to(log) as first_error:
        dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    state = str(dag_run.state).rsplit(".", 1)[-1]
    if state != "success":
        # failed itself, not upstream_failed: the summary names the task to look at
        failed = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state).rsplit(".", 1)[-1] == "failed"]
        raise DagRunFailed(dag_id, state, failed, first_error.message, log)
    return state
