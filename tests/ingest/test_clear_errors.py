"""Expected errors on the command lines (a bad finance file, the warehouse held by another process, a refused
credential, a malformed connection, a bad argument): one line `error: <message>` on stderr and a non-zero
exit, no Python traceback; the secret never shown. Each command runs as its own process, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.errors import run_cli
from tests.ingest.scripted_server import Scripted

REPO = Path(__file__).resolve().parents[2]
SECRET = "shpat_s3cr3t-T0KEN"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_clear_error(proc: subprocess.CompletedProcess, message: str, code: int = 1) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    shown = proc.stderr[proc.stderr.find("error: ") if message.startswith("error: ") else 0 :]
    assert shown.startswith(message), proc.stderr[-3000:]  # after the run's log lines, if any
    assert SECRET not in proc.stderr + proc.stdout


@pytest.fixture
def finance(tiny, tmp_path) -> Path:
    return Path(shutil.copytree(tiny / "finance", tmp_path / "finance"))


def test_a_bad_finance_file(data_dir, finance):
    rows = (finance / "fx_rates.csv").read_text().splitlines()
    (finance / "fx_rates.csv").write_text("\n".join([rows[0], rows[1].replace(",CAD,", ",cad,"), *rows[2:]]) + "\n")
    proc = cli("ingest", "finance", "--dir", str(finance))
    assert_one_clear_error(
        proc, "error: finance inputs rejected:\n  fx_rates.csv line 2, column currency: 'cad' is not an ISO 4217"
    )


def test_finance_inputs_not_configured(data_dir):
    proc = cli("ingest", "finance", env={"FINANCE_INPUTS_DIR": ""})
    assert_one_clear_error(proc, "error: FINANCE_INPUTS_DIR is not set: point it at the folder holding the finance")


@pytest.mark.parametrize(
    "command",
    [
        ("ingest", "finance"),
        ("ingest", "load", "--vendor", "shopify"),
        ("pipeline.close", "close", "2026-01"),
        ("pipeline.publish", "--no-report"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_the_warehouse_held_by_another_process(data_dir, finance, command):
    data_dir.mkdir(parents=True)
    holder = duckdb.connect(str(data_dir / "warehouse.duckdb"))  # a writer at work, in another process
    try:
        holder.execute("CREATE TABLE busy AS SELECT 1 AS x")
        proc = cli(*command, env={"FINANCE_INPUTS_DIR": str(finance)})
    finally:
        holder.close()
    assert_one_clear_error(proc, "error: the warehouse is in use by another process; run again when it has finished")
    assert "warehouse.duckdb" in proc.stderr


def test_a_refused_credential(data_dir):
    server = Scripted([{"status": 401, "body": '{"errors": "[API] Invalid API key or access token"}'}])
    try:
        conn = {"host": server.url, "password": SECRET}
        proc = cli("ingest", "extract", "--vendor", "shopify", env={"AIRFLOW_CONN_SHOPIFY_DEFAULT": json.dumps(conn)})
    finally:
        server.close()
    assert_one_clear_error(proc, "error: shopify_default: HTTP 401 on POST ")
    assert "credentials were refused" in proc.stderr
    assert len(server.seen) == 1


def test_a_malformed_connection(data_dir):
    """Before: host https://None, 139 s of retries, then a traceback."""
    proc = cli("ingest", "extract", "--vendor", "shopify", env={"AIRFLOW_CONN_SHOPIFY_DEFAULT": f"admin:{SECRET}@shop"})
    assert_one_clear_error(
        proc, "error: connection 'shopify_default': AIRFLOW_CONN_SHOPIFY_DEFAULT is neither JSON nor a URI"
    )


def test_a_bad_argument(data_dir):
    proc = cli("pipeline.run", "--end", "last tuesday")
    assert_one_clear_error(proc, "usage: python -m pipeline.run", code=2)
    assert "--end must be an ISO 8601 instant such as 2026-09-01T05:00:00Z (got 'last tuesday')" in proc.stderr


def test_an_unexpected_error_keeps_its_traceback(capsys):
    def main() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_cli(main)
    assert capsys.readouterr().err == ""
