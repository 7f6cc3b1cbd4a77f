"""The real DAGs, run in-process with `dag.test()` against the sandbox emulators at scale tiny: the
marts equal the answer key, a task that fails once is retried and succeeds, and a second run over
the same intervals changes nothing in the warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sandbox.answer_key import AnswerKey
from sandbox.calendar import from_us
from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of
from sandbox.verify import compare

SNAPSHOT = {
    "raw": "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name LIKE 'raw_%'",
    "marts": "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name = 'marts'",
}


def warehouse_state(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [t for q in SNAPSHOT.values() for (t,) in con.execute(q).fetchall()]
        return {
            t: sorted(con.execute(f"SELECT * EXCLUDE (extracted_at, run_id) FROM {t}").fetchall(), key=repr)
            if t.startswith("raw_") and not t.startswith("raw_finance")
            else sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in tables
        }
    finally:
        con.close()


@pytest.fixture
def airflow_env(tmp_path, monkeypatch, tiny):
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINANCE_INPUTS_DIR", str(tiny / "finance"))
    monkeypatch.setenv("NETWORK_RETRY_DELAY_SECONDS", "0")
    from pipeline.airflow_local import configure

    configure(data)
    return data


def test_the_dags_build_marts_equal_to_the_answer_key_and_rerun_changes_nothing(tiny, airflow_env):
    from pipeline.run import run_pipeline

    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box, connections_of(box):
        clock = from_us(box.clock_us)
        # the first extract attempt of Shopify hits a 401: the task fails, Airflow retries it, it succeeds
        box.inject("shopify", "401", 1)
        run_pipeline(clock, as_of=clock.isoformat())
        tries = extract_tries("extract_shopify")
        first = warehouse_state(airflow_env / "warehouse.duckdb")
        run_pipeline(clock, as_of=clock.isoformat())
        second = warehouse_state(airflow_env / "warehouse.duckdb")
    checked, problems = compare(airflow_env / "warehouse.duckdb", AnswerKey(tiny, as_of=box.clock_us).marts())
    assert not problems, "\n".join(problems)
    assert checked > 200
    assert first == second, [t for t in first if first[t] != second.get(t)]
    assert tries == 2, f"the extract that failed once was not retried to success (try {tries})"


def extract_tries(dag_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "extract").one()
        assert str(ti.state).endswith("success"), ti.state
        return ti.try_number
