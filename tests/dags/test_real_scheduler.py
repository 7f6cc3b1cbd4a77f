"""The DAGs under a real Airflow (scheduler, DAG processor, triggerer and API server as their own processes,
LocalExecutor), not `dag.test()`: driven through the REST API v2 against the tiny sandbox. Three rounds with a
simulated day between: every vendor's extract, the transform their assets trigger; every run succeeds, the
marts equal the answer key and no process dies. Then one injected failure sends exactly one alert, with its
cause. `dag.test()` hid a scheduler race that failed 7-14 model tasks per transform run."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from sandbox.answer_key import AnswerKey
from sandbox.calendar import DAY, from_us
from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of
from sandbox.verify import compare

pytestmark = pytest.mark.slow
VENDORS = ("gorgias", "recharge", "shopify", "easypost")
DAGS = {"transform", "finance_inputs", *(f"extract_{v}" for v in VENDORS)}
NEVER = "0 0 1 1 *"  # no scheduled run inside the test: every run is one the test triggers


class Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self) -> None:
        Webhook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch):
    Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    yield Webhook.received
    server.shutdown()


@pytest.fixture
def scheduled_env(tmp_path, monkeypatch, tiny):
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINANCE_INPUTS_DIR", str(tiny / "finance"))
    monkeypatch.setenv("NETWORK_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("HTTP_MAX_TRIES", "2")
    monkeypatch.setenv("LANDING_KEEP_LOADED_RUNS", "100")  # the backfill test reads every run's manifest
    for name in (*VENDORS, "finance"):
        monkeypatch.setenv(f"SCHEDULE_{name.upper()}", NEVER)
    from pipeline.dbt import ensure_manifest

    ensure_manifest()
    return data


def settle(af, timeout: float = 1800) -> list[dict]:
    """Every DAG run, once none is queued or running (asset-triggered runs included). A round can hold two
    transform runs (the first load's event starts one, the others queue the next), each 4-8 min of ~100 task
    processes at 2 workers on 2 cores that other test runs share: 15 min was too short for one round there."""
    deadline = time.monotonic() + timeout
    time.sleep(3)  # an asset event becomes a transform run within a scheduler loop
    while True:
        runs = af.request("GET", "/api/v2/dags/~/dagRuns?limit=200")["dag_runs"]
        if not any(r["state"] in ("queued", "running") for r in runs):
            time.sleep(3)  # ... and the last load's event has had its loop too
            runs = af.request("GET", "/api/v2/dags/~/dagRuns?limit=200")["dag_runs"]
            if not any(r["state"] in ("queued", "running") for r in runs):
                return runs
        assert not af.dead(), f"Airflow processes died: {af.dead()}"
        assert time.monotonic() < deadline, f"runs still going: {[(r['dag_id'], r['state']) for r in runs]}"
        time.sleep(2)


def trigger(af, dag_id: str, conf: dict | None = None) -> str:
    return af.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})[
        "dag_run_id"
    ]


def test_every_run_succeeds_under_a_real_scheduler_and_one_failure_sends_one_alert(tiny, scheduled_env, webhook):
    from pipeline.airflow_services import Services

    with (
        Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box,
        connections_of(box),
        Services(scheduled_env / "airflow") as af,
    ):
        af.wait_for_dags(DAGS)
        for dag_id in DAGS:
            af.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        trigger(af, "finance_inputs")
        settle(af)
        for day in range(3):
            if day:
                box.advance(DAY / 1_000_000)
            clock = from_us(box.clock_us).isoformat()
            for vendor in VENDORS:
                trigger(af, f"extract_{vendor}", {"until": clock})
            runs = settle(af)
            states = Counter((r["dag_id"], r["state"]) for r in runs)
            assert {s for (_, s) in states} == {"success"}, states
            assert states[("transform", "success")] >= day + 1, states
        checked, problems = compare(scheduled_env / "warehouse.duckdb", AnswerKey(tiny, as_of=box.clock_us).marts())
        assert not problems, "\n".join(problems)
        assert checked > 200
        published = json.loads((scheduled_env / "published" / "manifest.json").read_text())
        assert published["tables"], published
        assert webhook == [], webhook

        box.inject("shopify", "401", 5)  # a refused credential: a permanent error, no retries
        failed_run = trigger(af, "extract_shopify", {"until": from_us(box.clock_us).isoformat()})
        runs = settle(af)
        assert [r["dag_run_id"] for r in runs if r["state"] == "failed"] == [failed_run]
        assert not af.dead(), f"Airflow processes died: {af.dead()}"
    [alert] = webhook
    assert "extract_shopify.extract" in alert["text"] and failed_run in alert["text"], alert
    assert "401" in alert["text"] and "log: " in alert["text"], alert


def test_a_backfill_of_one_hour_reads_that_hour(tiny, scheduled_env, monkeypatch):
    """Before: Airflow 3's default timetable gave backfill runs a data interval that starts and ends at one
    instant, so the extract read an empty window."""
    from pipeline.airflow_local import configure
    from pipeline.airflow_services import Services
    from sandbox.calendar import to_us
    from tests.ingest.sandbox_truth import visible

    configure(scheduled_env)  # the DAG folder on sys.path, as Airflow puts it
    monkeypatch.setenv("SCHEDULE_GORGIAS", "@hourly")  # its real schedule: a backfill makes the runs of it
    from pipeline_defaults import START_DATE

    with (
        Sandbox(tiny, faults="none", rate_limits=False) as box,
        connections_of(box),
        Services(scheduled_env / "airflow") as af,
    ):
        hour_us = 3600 * 1_000_000
        hours = Counter(v // hour_us for v in visible(tiny, "gorgias_tickets", box.clock_us).values())
        first, last_whole = to_us(START_DATE) // hour_us, box.clock_us // hour_us - 1  # a backfill starts at start_date
        hour, expected = max(((h, n) for h, n in hours.items() if first <= h < last_whole), key=lambda x: x[1])
        start, end = from_us(hour * hour_us), from_us((hour + 1) * hour_us)
        af.wait_for_dags({"extract_gorgias"})
        af.request("PATCH", "/api/v2/dags/extract_gorgias", {"is_paused": False})
        last = end - timedelta(minutes=1)  # inclusive: the runs whose intervals start from `start` up to `last`
        backfill = {"dag_id": "extract_gorgias", "from_date": start.isoformat(), "to_date": last.isoformat(),
                    "reprocess_behavior": "none", "max_active_runs": 1, "dag_run_conf": {}}  # fmt: skip
        for _ in range(20):  # on SQLite, Airflow refuses (503) while the scheduler holds the lock: try again
            try:
                af.request("POST", "/api/v2/backfills", backfill)
                break
            except RuntimeError as e:
                if "Database is locked" not in str(e):
                    raise
                time.sleep(3)
        # unpausing also makes the latest scheduled run (now, not the sandbox's clock): left aside here
        [run] = [r for r in settle(af) if r["run_type"] == "backfill"]
        assert run["state"] == "success", run
        assert (run["data_interval_start"], run["data_interval_end"]) == (iso_z(start), iso_z(end)), run
    # Gorgias filters nothing server-side (newest first, the client stops past `since`), so the records read
    # are whole pages: the window the extract asked for is what shows the backfill read its hour
    windows = [
        json.loads(m.read_text()) for m in (scheduled_env / "landing" / "gorgias" / "tickets").glob("*.manifest.json")
    ]
    backfilled = [(m["since"], m["until"]) for m in windows if m["since"] is not None]
    assert expected > 0 and backfilled == [(str(start), str(end))], (expected, backfilled)


def iso_z(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
