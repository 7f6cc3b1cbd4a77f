"""The real DAGs, run in-process with `dag.test()` against the sandbox emulators at scale tiny: the
marts equal the answer key, a task that fails once is retried and succeeds, a second run over the
same intervals changes nothing in the warehouse while BI readers poll the published file without an
error or a partial version, and a corrupted raw table stops the run before anything is published."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
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
    monkeypatch.setenv("HTTP_MAX_TRIES", "2")
    from pipeline.airflow_local import configure

    configure(data)
    return data


def test_the_dags_build_marts_equal_to_the_answer_key_and_rerun_changes_nothing(tiny, airflow_env):
    from pipeline.run import run_pipeline

    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box, connections_of(box):
        clock = from_us(box.clock_us)
        # the first extract attempt of Shopify meets an outage longer than its requests' retries (2 tries
        # here): the task fails, Airflow retries it, it succeeds
        box.inject("shopify", "5xx", 2)
        run_pipeline(clock, as_of=clock.isoformat())
        tries = extract_tries("extract_shopify")
        first = warehouse_state(airflow_env / "warehouse.duckdb")
        published = airflow_env / "published"
        with readers(published / "marts.duckdb", airflow_env) as seen:
            run_pipeline(clock, as_of=clock.isoformat())
        second = warehouse_state(airflow_env / "warehouse.duckdb")
        versions = json.loads((published / "manifest.json").read_text())["tables"]
        complete = {name: t["rows"] for name, t in versions.items()}
        for mode, polls in seen.items():
            assert not polls["errors"], f"{mode} reader: {polls['errors'][:3]}"
            assert len(polls["seen"]) >= 10, f"{mode} reader polled only {len(polls['seen'])} times"
            assert all(p == complete for p in polls["seen"]), f"{mode} reader saw a partial version"

        # A duplicate key and an unknown status in the raw layer: the raw gate stops the transform.
        before = {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()}
        corrupt(airflow_env / "warehouse.duckdb")
        from pipeline.airflow_local import run

        with pytest.raises(RuntimeError, match="raw_quality_gate"):
            run("transform", logical_date=clock, conf={"as_of": clock.isoformat()})
        assert {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()} == before
    checked, problems = compare(airflow_env / "warehouse.duckdb", AnswerKey(tiny, as_of=box.clock_us).marts())
    assert not problems, "\n".join(problems)
    assert checked > 200
    assert first == second, [t for t in first if first[t] != second.get(t)]
    assert tries == 2, f"the extract that failed once was not retried to success (try {tries})"


def test_a_refused_credential_fails_the_extract_for_good_without_airflow_retries(tiny, airflow_env):
    """Before: Airflow retried the task 3 more times (10.5 minutes with the production retry delays)."""
    from pipeline.airflow_local import migrate, run

    migrate()
    with Sandbox(tiny, faults="none", rate_limits=False) as box, connections_of(box):
        box.inject("shopify", "401", 5)  # enough for every retry the task could make
        with pytest.raises(RuntimeError, match=r"ended failed; failed tasks: \['extract'") as failed:
            # a date of its own: Airflow keeps one metadata DB per test process, the first test's runs too
            run("extract_shopify", logical_date=from_us(box.clock_us) + timedelta(days=1))
        refused = box.stats()["shopify"]["statuses"].get("401")
    state, tries = task_instance("extract_shopify", "extract")
    assert (state, tries, refused) == ("failed", 1, 1)

    # what `make run` prints then: the task, why, and where its log is (issue 25)
    from pipeline.summary import print_failure

    lines: list[str] = []
    print_failure(failed.value, say=lambda text="", **_: lines.append(text))
    shown = "\n".join(lines)
    assert "    failed task(s): extract" in lines, shown  # not load, which never ran (upstream_failed)
    why = next(line for line in lines if line.startswith("    why: "))
    assert why.startswith("    why: extract_shopify.extract failed: shopify_default: "), why
    log = Path(next(line for line in lines if line.startswith("    log: ")).removeprefix("    log: "))
    assert "shopify_default" in log.read_text(), log


def task_instance(dag_id: str, task_id: str) -> tuple[str, int]:
    """State and try number of the task's latest instance."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
            .order_by(TaskInstance.start_date.desc())
            .first()
        )
        return str(ti.state).rsplit(".", 1)[-1], ti.try_number


def corrupt(warehouse: Path) -> None:
    """What a faulty load would leave: the rows carry a new load id, as every row a load writes does
    (the raw gate reads the rows of loads it has not yet passed)."""
    con = duckdb.connect(str(warehouse))
    try:
        load_id = con.execute("SELECT nextval('ops.load_id_seq')").fetchone()[0]
        con.execute(
            f"INSERT INTO raw_shopify.orders SELECT * REPLACE ({load_id} AS load_id) FROM raw_shopify.orders LIMIT 1"
        )
        con.execute(f"""UPDATE raw_recharge.charges SET record = json_merge_patch(record, '{{"status": "exploded"}}'),
                        load_id = {load_id} WHERE id = (SELECT min(id) FROM raw_recharge.charges)""")
    finally:
        con.close()


class readers:
    """Two BI-like reader processes polling the published file every 100 ms (one holds its connection,
    one reconnects each time); yields their polls once the block ends."""

    def __init__(self, db: Path, folder: Path):
        self.db, self.folder, self.seen = db, folder, {}

    def __enter__(self) -> dict:
        script = Path(__file__).resolve().parents[1] / "publish" / "reader.py"
        self.stop = self.folder / "stop-readers"
        self.procs = {
            mode: subprocess.Popen([sys.executable, str(script), str(self.db), str(self.folder / f"{mode}.json"),
                                    str(self.stop), mode])
            for mode in ("hold", "reopen")
        }  # fmt: skip
        deadline = time.monotonic() + 30
        while not all((self.folder / f"{m}.json.ready").exists() for m in self.procs):
            assert time.monotonic() < deadline, "readers did not start"
            time.sleep(0.05)
        return self.seen

    def __exit__(self, *exc) -> None:
        self.stop.touch()
        for mode, proc in self.procs.items():
            proc.wait(timeout=30)
            self.seen[mode] = json.loads((self.folder / f"{mode}.json").read_text())


def extract_tries(dag_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "extract").one()
        assert str(ti.state).endswith("success"), ti.state
        return ti.try_number
