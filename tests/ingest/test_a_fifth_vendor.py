"""A fifth vendor entity needs its declaration, its client's paging code and its staging model, and nothing else.

In a copy of the project, a throwaway vendor `acme` (one entity, `widgets`, paged by page number from a tiny
HTTP server here) is added as those three files; then, with no other file touched: the DAGs have its extraction
DAG and the transform listens to its raw asset, `pipeline.run` and `python -m ingest` extract and load it, the
raw gate checks it (and fails on a broken row), and dbt has it as a source with its freshness and builds its
staging model from it. Before: a vendor was spelled in six places (the client registry, the raw suites, the
DAG schedules, the freshness limits, `pipeline.run`, the sources YAML) and none of this happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
WIDGETS = [
    {"id": i, "status": "done" if i % 3 else "new", "price": f"{i}.50", "updated_at": f"2026-03-{i:02d}T10:00:00Z"}
    for i in range(1, 8)
]

DECLARATION = """
from ingest.endpoints import Endpoint, Vendor

VENDOR = Vendor(
    "acme",
    "Acme widgets (a throwaway vendor of a test).",
    client="ingest.acme:AcmeClient",
    schedule="@daily",
    freshness_hours=12,
    endpoints=(
        Endpoint(
            "acme", "widgets", "/widgets", "widgets", version_fields=("updated_at",), page_size=3,
            required=("status", "updated_at"), timestamps=("updated_at",), money=("price",),
            enums={"status": frozenset({"new", "done"})},
        ),
    ),
)
"""

CLIENT = """
from ingest.client import Client, Page
from ingest.http import VendorSession
from ingest.sources.acme import VENDOR


class AcmeClient(Client):
    conn_id = VENDOR.conn_id
    endpoints = VENDOR.endpoints
    rate = None
    page_fields = ("next_page",)

    def make_session(self, conn):
        return VendorSession(conn.conn_id, conn.base_url, auth=(conn.login, conn.password), rate=self.rate)

    def pages(self, ep, since, until):
        page = 1
        while page:
            resp = self.fetch(ep, ep.path, {"page": page, "limit": ep.page_size})
            yield Page(resp.body.items)
            page = resp.body.next_page
"""

STAGING = """
select id::bigint as widget_id, json_extract_string(record, '$.status') as status,
       cast(json_extract_string(record, '$.price') as decimal(18, 2)) as price
from {{ source('acme', 'widgets') }}
"""

CHECK_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
extract = bag.dags.get("extract_acme")
print("RESULT" + json.dumps({
    "errors": list(bag.import_errors.values()),
    "dags": sorted(bag.dags),
    "extract_acme": sorted(t.task_id for t in extract.tasks) if extract else None,
    "transform_listens_to": repr(bag.dags["transform"].timetable.asset_condition),
}))
"""

CHECK_PIPELINE = """
import json, sys
import duckdb
from expectations import sql_checks
from expectations.suites import datasets
from ingest.vendors import CLIENTS
from pipeline.run import VENDORS

suite = next(ds for ds in datasets("raw") if ds.table == "raw_acme.widgets")
con = duckdb.connect(sys.argv[1])
clean = sql_checks.count(con, suite)
con.execute("UPDATE raw_acme.widgets SET record = json_object('id', id, 'status', 'lost') WHERE id = 1")
broken = sql_checks.count(con, suite)
print("RESULT" + json.dumps({
    "clients": {v: c.__name__ for v, c in CLIENTS.items()}, "run": list(VENDORS),
    "checks": [[c.expectation, c.kwargs.get("column")] for c in suite.checks],
    "clean": clean.passed, "clean_rows": clean.rows, "broken": broken.passed,
}))
"""


class Widgets(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        page, limit = int(query["page"][0]), int(query["limit"][0])
        rows = WIDGETS[(page - 1) * limit : page * limit]
        more = page * limit < len(WIDGETS)
        body = json.dumps({"widgets": rows, "next_page": page + 1 if more else None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def acme_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Widgets)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://acme-user:acme-key@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT")).removeprefix("RESULT"))


def test_a_fifth_vendor_entity_is_its_declaration_client_and_staging_model(tmp_path, acme_api):
    project = tmp_path / "project"
    skip = shutil.ignore_patterns("target", "logs", "__pycache__", "dbt_packages", "*.duckdb")
    for part in ("dags", "ingest", "pipeline", "expectations", "dbt_project"):
        shutil.copytree(REPO / part, project / part, ignore=skip)
    shutil.copy(REPO / "settings.py", project / "settings.py")
    # The three files of a new vendor entity:
    (project / "ingest" / "sources" / "acme.py").write_text(DECLARATION)
    (project / "ingest" / "acme").mkdir()
    (project / "ingest" / "acme" / "__init__.py").write_text(CLIENT)
    (project / "dbt_project" / "models" / "staging" / "acme").mkdir()
    (project / "dbt_project" / "models" / "staging" / "acme" / "stg_acme__widgets.sql").write_text(STAGING)

    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_PATH", "LANDING_DIR")},
        "PYTHONPATH": os.pathsep.join([str(project), str(project / "dags")]),
        "DATA_DIR": str(data),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_ACME_DEFAULT": acme_api,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=env, cwd=project, capture_output=True, text=True, timeout=600)

    generated = run(sys.executable, "-m", "ingest.dbt_sources")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.split() == ["wrote", str(project / "dbt_project/models/staging/acme/_acme__sources.yml")]
    # What `make install` does after a project change: the manifest the transform DAG renders its tasks from.
    parsed = run(sys.executable, "-m", "pipeline.dbt", "parse", "--quiet")
    assert parsed.returncode == 0, parsed.stderr[-3000:]

    dags = result(run(sys.executable, "-c", CHECK_DAGS, str(project / "dags")))
    assert not dags["errors"], dags["errors"]
    assert dags["extract_acme"] == ["extract", "load"]
    assert "raw_acme" in dags["transform_listens_to"]

    for command in ("extract", "load"):
        proc = run(sys.executable, "-m", "ingest", command, "--vendor", "acme")
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "acme-key" not in proc.stdout + proc.stderr

    checked = result(run(sys.executable, "-c", CHECK_PIPELINE, str(data / "warehouse.duckdb")))
    assert checked["clients"]["acme"] == "AcmeClient" and "acme" in checked["run"]
    assert ["ExpectColumnValuesToNotBeNull", "status"] in checked["checks"]
    assert ["ExpectColumnValuesToBeInSet", "status"] in checked["checks"]
    assert checked["clean"] and checked["clean_rows"] == len(WIDGETS)  # every page landed and loaded
    assert not checked["broken"]  # a row with an undeclared status and no updated_at fails the gate

    build = run(sys.executable, "-m", "pipeline.dbt", "build", "--select", "stg_acme__widgets")
    assert build.returncode == 0, build.stdout[-3000:]
    fresh = run(sys.executable, "-m", "pipeline.dbt", "source freshness", "--select", "source:acme")
    assert fresh.returncode == 0, fresh.stdout[-3000:]
    manifest = json.loads((project / "dbt_project" / "target" / "manifest.json").read_text())
    source = manifest["sources"]["source.cs_profit_center.acme.widgets"]
    assert source["freshness"]["error_after"] == {"count": 12, "period": "hour"}
    assert source["schema"] == "raw_acme"
    model = manifest["nodes"]["model.cs_profit_center.stg_acme__widgets"]
    assert model["depends_on"]["nodes"] == ["source.cs_profit_center.acme.widgets"]
    results = json.loads((project / "dbt_project" / "target" / "sources.json").read_text())["results"]
    assert [r["status"] for r in results] == ["pass"]
