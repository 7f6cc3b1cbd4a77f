"""Extraction and loading against the sandbox emulators on loopback: nothing lost, nothing doubled.

Real HTTP to the emulators, real landing files, a real DuckDB file; the canonical tables of the
simulation are the truth the raw layer is compared with.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from ingest.connections import get_connection
from ingest.extract import ExtractFailed, Window, extract_all_vendors, extract_endpoint, extract_vendor
from ingest.http import AuthError, Unreachable
from ingest.load import load_all_vendors
from ingest.sql import literal
from ingest.vendors import CLIENTS
from sandbox.calendar import DAY
from sandbox.emulators.server import Sandbox
from tests.ingest.sandbox_truth import CANONICAL, assert_raw_equals_sandbox, visible


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("LANDING_DIR", raising=False)
    return tmp_path / "data"


def use(box: Sandbox, monkeypatch) -> None:
    for conn_id, value in box.connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def raw_snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            name: con.execute(
                f"SELECT id, updated_at, extracted_at, run_id, record::VARCHAR, load_id FROM raw_{name} ORDER BY id"
            ).fetchall()
            for name in CANONICAL
        }
    finally:
        con.close()


def test_heavy_faults_lose_nothing_and_double_nothing(tiny, env, monkeypatch):
    monkeypatch.setenv("HTTP_READ_TIMEOUT_S", "0.5")  # the emulator's slow responses become client timeouts
    with Sandbox(tiny, faults="heavy", rate_limits=False, recharge_retention_days=0, slow_seconds=1.0) as box:
        use(box, monkeypatch)
        results = extract_all_vendors()
        stats = box.stats()
        clock = box.clock_us
    load_all_vendors()
    checked = assert_raw_equals_sandbox(tiny, clock, env / "warehouse.duckdb")
    retries = sum(m["retries"] for ms in results.values() for m in ms)
    faults = {
        kind: sum(v["faults"].get(kind, 0) for v in stats.values())
        for kind in ("5xx", "429", "slow", "truncated", "html", "repeat")
    }
    print(f"heavy faults: {faults} injected, {retries} retries, {checked} records checked, 0 lost, 0 doubled")
    assert all(faults.values()), faults  # every kind of fault was really exercised
    assert retries >= sum(n for kind, n in faults.items() if kind != "repeat")  # repeats need no retry


def test_incremental_run_fetches_only_what_changed(tiny, env, monkeypatch):
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        first = extract_all_vendors()
        load_all_vendors()
        box.advance(DAY // 1_000_000)
        second = extract_all_vendors()
        load_all_vendors()
        clock = box.clock_us
    assert_raw_equals_sandbox(tiny, clock, env / "warehouse.duckdb")
    for vendor in ("recharge", "gorgias"):
        incremental = [e.entity for e in CLIENTS[vendor].endpoints if e.incremental]
        before = sum(m["requests"] for m in first[vendor] if m["entity"] in incremental)
        after = sum(m["requests"] for m in second[vendor] if m["entity"] in incremental)
        print(f"{vendor}: first run {before} requests, after one day {after}")
        assert after < before and after <= 2 * len(incremental)  # a page or two per endpoint, not a re-read
    # Shopify: one bulk operation per window, a handful of requests whatever its size: what shrinks is the file
    before, after = (sum(m["records"] for m in run["shopify"]) for run in (first, second))
    print(f"shopify: first run {before} records, after one day {after}")
    assert 0 < after < before / 10


def test_same_interval_twice_gives_identical_raw_tables(tiny, env, monkeypatch):
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        window = Window(full_refresh=True)
        extract_all_vendors(window)
        load_all_vendors()
        once = raw_snapshot(env / "warehouse.duckdb")
        extract_all_vendors(window)
        load_all_vendors()
        twice = raw_snapshot(env / "warehouse.duckdb")
    assert once == twice
    assert sum(len(v) for v in once.values()) > 1000


def test_a_killed_load_is_recovered_by_the_next_run(tiny, env, monkeypatch):
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        extract_all_vendors()
        clock = box.clock_us
    cmd = [sys.executable, "-m", "ingest", "load", *[a for v in CLIENTS for a in ("--vendor", v)]]
    killed = 0
    for delay in (0.4, 0.8, 1.2, 1.6, 2.0):
        proc = subprocess.Popen(
            cmd, env={**os.environ, "PYTHONPATH": os.getcwd()}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    assert killed >= 1, "every load finished before it could be killed: nothing was tested"
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": os.getcwd()}, check=True, capture_output=True)
    assert_raw_equals_sandbox(tiny, clock, env / "warehouse.duckdb")


def test_bad_credentials_fail_at_once_naming_the_connection_and_never_the_secret(tiny, env, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with Sandbox(tiny, faults="none", rate_limits=False) as box:
        use(box, monkeypatch)
        secrets = [json.loads(v)["password"] for v in box.connections().values()]
        extract_all_vendors()  # a full run with good credentials: its logs must not show them either
        bad = dict(json.loads(box.connections()["shopify_default"]), password="wrong-token")
        monkeypatch.setenv("AIRFLOW_CONN_SHOPIFY_DEFAULT", json.dumps(bad))
        started = time.monotonic()
        with pytest.raises(AuthError) as err:
            extract_vendor("shopify")
        assert time.monotonic() - started < 5
        assert box.stats()["shopify"]["statuses"].get("401") == 1
    assert "shopify_default" in str(err.value)
    for secret in secrets:
        assert secret not in caplog.text and secret not in str(err.value)


def test_extract_runs_beside_a_writer_holding_the_warehouse(tiny, env, monkeypatch):
    """Extraction never opens the warehouse: the one kind of task the DAGs keep out of the writer pool."""
    env.mkdir(parents=True)
    with Sandbox(tiny, faults="none", rate_limits=False) as box:
        use(box, monkeypatch)
        # a load or dbt build at work, in another process: DuckDB's lock is per process
        hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
        holder = subprocess.Popen(
            [sys.executable, "-c", hold, str(env / "warehouse.duckdb")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert holder.stdout.readline() == b"held\n"
            results = extract_vendor("easypost")
        finally:
            holder.communicate(b"", timeout=30)
    assert results and all(m["status"] == "succeeded" for m in results)


def test_a_vendor_refusing_the_first_connection_stops_its_extract_at_once(env, monkeypatch):
    """Before: 8 tries of every request of every endpoint, about 7 minutes for Gorgias's endpoints."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # released: nothing listens there
    conn = {"host": f"http://127.0.0.1:{port}", "login": "cs@example.com", "password": "s3cr3t-key"}
    monkeypatch.setenv("AIRFLOW_CONN_GORGIAS_DEFAULT", json.dumps(conn))
    started = time.monotonic()
    with pytest.raises(
        Unreachable, match=r"gorgias_default: GET http://127\.0\.0\.1:\d+/api/\w+: cannot connect"
    ) as err:
        extract_vendor("gorgias")
    assert time.monotonic() - started < 10
    assert "s3cr3t-key" not in str(err.value)
    tried = sorted(p.parent.name for p in (env / "landing").rglob("*.manifest.json"))
    assert len(tried) == 1 < len(CLIENTS["gorgias"].endpoints), tried  # the other endpoints were not tried


def test_too_many_invalid_records_fail_loudly_and_keep_them_quarantined(tiny, env, monkeypatch):
    """Schema drift: the charges endpoint renamed to UPPER-case statuses (the 2021-01 shape)."""
    import ingest.recharge as recharge

    drifted = tuple(
        replace(e, enums={"status": frozenset({"SUCCESS"})}) if e.entity == "charges" else e for e in recharge.ENDPOINTS
    )
    monkeypatch.setattr(recharge.RechargeClient, "endpoints", drifted)
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        with pytest.raises(ExtractFailed, match="charges: TooManyRejected"):
            extract_vendor("recharge")
    rejected = list((env / "landing" / "recharge" / "charges" / "rejected").glob("*.parquet"))
    n = sum(duckdb.sql(f"SELECT count(*) FROM '{p}'").fetchall()[0][0] for p in rejected)
    assert n == len(visible(tiny, "recharge_charges", box.clock_us))


# Vendor limits as the emulators enforce them: (bucket size, drain per second).
# Shopify's GraphQL is paced by its cost bucket instead (tests/ingest/test_shopify_bulk.py: never THROTTLED).
LIMITS = {"gorgias": (40, 2.0), "recharge": (40, 2.0), "easypost": (5, 5.0)}
SMALL_PAGES = {"gorgias": 10, "recharge": 50, "shopify": 25, "easypost": 20}


@pytest.mark.slow
def test_the_client_throttle_never_trips_the_vendor_limit_and_uses_most_of_it(tiny, env, monkeypatch):
    for vendor, cls in CLIENTS.items():  # small pages, so each vendor's bucket really drains
        monkeypatch.setattr(cls, "endpoints", tuple(replace(e, page_size=SMALL_PAGES[vendor]) for e in cls.endpoints))
    with Sandbox(tiny, faults="none", rate_limits=True, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        started = time.monotonic()
        elapsed, sustained = {}, {}

        def timed(vendor: str) -> None:
            cls = CLIENTS[vendor]
            client = cls(get_connection(cls.conn_id))
            for ep in cls.endpoints:
                extract_endpoint(client, ep, Window(), "rate-test")
            elapsed[vendor] = time.monotonic() - started
            sustained[vendor] = client.session.throttle.sustained_rate()

        with ThreadPoolExecutor(len(CLIENTS)) as pool:
            list(pool.map(timed, CLIENTS))
        stats = box.stats()
    for vendor, (_bucket, drain) in LIMITS.items():
        s = stats[vendor]
        print(
            f"{vendor}: {s['requests']} requests in {elapsed[vendor]:.1f} s, {s['throttled_429']} x 429, "
            f"at most {s['max_requests_in_window']} in any {s['window_seconds']} s, sustained "
            f"{sustained[vendor]:.2f}/s = {sustained[vendor] / drain:.0%} of the allowed {drain}/s"
        )
        assert s["throttled_429"] == 0
        assert sustained[vendor] >= 0.9 * drain


def landed(con: duckdb.DuckDBPyConnection, path: Path, versions: list[tuple[str, str | None, str, dict]]) -> str:
    """A landing file as the merge reads it, of (id, updated_at or None, extracted_at, record) rows."""
    rows = " UNION ALL ".join(
        f"SELECT {literal(i)} AS id, {'NULL' if u is None else literal(u)}::TIMESTAMPTZ AS updated_at,"
        f" {literal(x)}::TIMESTAMPTZ AS extracted_at, 'run' AS run_id, {literal(json.dumps(record))} AS record"
        for i, u, x, record in versions
    )
    con.execute(f"COPY ({rows}) TO {literal(path)} (FORMAT parquet)")
    return str(path)


def raw_shopify_orders(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, str]:
    from ingest.load import ensure_raw

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ep = CLIENTS["shopify"].endpoints[0]
    ensure_raw(con, ep)
    return con, f"raw_{ep.vendor}.{ep.entity}"


def test_a_batch_holding_an_id_more_than_once_keeps_its_newest_version(tmp_path):
    """Overlapping runs and repeated cursor pages land an id more than once, in any file order: the merge
    keeps the newest version by updated time (then extraction time), and an older one never replaces it."""
    from ingest.load import merge_files

    con, table = raw_shopify_orders(tmp_path)

    def file(name: str, *versions: tuple[str, int, int]) -> str:  # (id, updated hour, extracted hour)
        return landed(con, tmp_path / f"{name}.parquet", [
            (i, f"2026-01-01 {u:02d}:00:00+00", f"2026-01-02 {x:02d}:00:00+00", {"id": i, "version": u, "extracted": x})
            for i, u, x in versions
        ])  # fmt: skip

    first = [file("a", ("1", 10, 0), ("2", 5, 0)), file("b", ("1", 11, 0), ("1", 9, 1), ("3", 1, 0), ("2", 5, 3))]
    assert merge_files(con, table, first, load_id=7) == (3, 3)
    second = [file("c", ("1", 8, 5), ("3", 2, 5), ("3", 2, 4))]
    merge_files(con, table, second, load_id=8)
    kept = con.execute(
        f"SELECT id, record->>'version', record->>'extracted', load_id FROM {table} ORDER BY id"
    ).fetchall()
    assert kept == [("1", "11", "0", 7), ("2", "5", "3", 7), ("3", "2", "5", 8)]


def test_a_merge_replaces_a_row_only_by_a_newer_or_changed_version(tmp_path):
    """Per id: a newer version replaces the row, an older one never does, the same version time with other text
    replaces it (a vendor correcting a record in place), the same text changes nothing (not even its load id), a
    version time where there was none replaces it, and a new id is added."""
    from ingest.load import merge_files

    con, table = raw_shopify_orders(tmp_path)

    def file(name: str, *versions: tuple[str, int | None, str]) -> str:  # (id, updated hour or none, text)
        return landed(con, tmp_path / f"{name}.parquet", [
            (i, None if u is None else f"2026-01-01 {u:02d}:00:00+00", "2026-01-02 00:00:00+00", {"id": i, "text": t})
            for i, u, t in versions
        ])  # fmt: skip

    versions = [("newer", 5, "a"), ("older", 5, "a"), ("same", 5, "a"), ("edited", 5, "a"), ("untimed", None, "a")]
    assert merge_files(con, table, [file("a", *versions)], load_id=1) == (5, 5)
    second = file(
        "b", ("newer", 6, "b"), ("older", 4, "b"), ("same", 5, "a"), ("edited", 5, "b"), ("untimed", 5, "b"),
        ("new", 1, "b"),
    )  # fmt: skip
    assert merge_files(con, table, [second], load_id=2) == (6, 4)
    kept = con.execute(f"SELECT id, record->>'text', load_id FROM {table} ORDER BY id").fetchall()
    assert kept == [("edited", "b", 2), ("new", "b", 2), ("newer", "b", 2), ("older", "a", 1), ("same", "a", 1),
                    ("untimed", "b", 2)]  # fmt: skip
