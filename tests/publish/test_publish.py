"""Publishing the marts for BI: complete, in DuckDB 1.5's storage format, atomic, and never in a reader's way.

Real DuckDB files throughout: the warehouse is the tiny sandbox through ingest and `dbt build` (conftest).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipeline import publish as pub
from tests.publish.conftest import read, snapshot, variant, warehouse_marts

READER = Path(__file__).with_name("reader.py")
REPO = Path(__file__).resolve().parents[2]


def test_every_mart_is_published_with_its_rows_types_and_descriptions(warehouse, tmp_path):
    out = tmp_path / "published"
    result = pub.publish(warehouse, out, report=False)

    expected = warehouse_marts(warehouse)
    assert {"cs_pnl_monthly", "fct_attributed_orders", "winback_cohorts"} <= set(expected)
    db = out / "marts.duckdb"
    tables = read(db, "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 2")
    assert tables == [("main", name) for name in sorted(expected)]  # the marts only, under their own names
    manifest = json.loads((out / "manifest.json").read_text())
    assert result["rows"] == expected
    assert {n: t["rows"] for n, t in manifest["tables"].items()} == expected
    assert manifest["source_warehouse"] == str(warehouse.resolve())
    assert manifest["storage_compatibility_version"] == "v1.5.0"

    columns = """SELECT table_name, column_name, data_type, comment FROM duckdb_columns()
                 WHERE database_name = current_database() AND schema_name = ? ORDER BY 1, 2"""
    assert read(db, columns, ["main"]) == read(warehouse, columns, ["marts"])  # DECIMAL stays DECIMAL; docs kept
    assert ("DOUBLE",) not in read(db, "SELECT DISTINCT data_type FROM duckdb_columns() WHERE NOT internal")
    for name, rows in expected.items():
        same = read(
            db,
            f"""SELECT count(*) FROM (SELECT * FROM "{name}" EXCEPT ALL SELECT * FROM read_parquet(?))
                UNION ALL SELECT count(*) FROM read_parquet(?)""",
            [str(out / "parquet" / f"{name}.parquet")] * 2,
        )
        assert same == [(0,), (rows,)], name  # the Parquet copy holds the same rows
        parquet_types = read(
            db, "SELECT typeof(COLUMNS(*)) FROM read_parquet(?) LIMIT 1", [manifest["tables"][name]["parquet"]]
        )
        table_types = read(db, f'SELECT typeof(COLUMNS(*)) FROM "{name}" LIMIT 1')
        assert parquet_types == table_types, name
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "marts.duckdb", "parquet"]


def test_a_mart_added_later_is_published_and_a_dropped_one_unpublished(warehouse, tmp_path):
    out = tmp_path / "published"
    pub.publish(variant(warehouse, tmp_path / "w1.duckdb", new_mart="mart_added_later"), out, report=False)
    assert read(out / "marts.duckdb", "SELECT amount FROM mart_added_later") == [(Decimal("12.34"),)]
    assert (out / "parquet" / "mart_added_later.parquet").exists()

    pub.publish(warehouse, out, report=False)
    assert not read(out / "marts.duckdb", "SELECT * FROM duckdb_tables() WHERE table_name = 'mart_added_later'")
    assert not (out / "parquet" / "mart_added_later.parquet").exists()


def test_the_published_file_is_in_storage_format_v1_5_0(warehouse, tmp_path):
    out = tmp_path / "published"
    pub.publish(warehouse, out, report=False)
    db = out / "marts.duckdb"

    raw = db.read_bytes()[: 3 * 4096]
    assert raw[8:12] == b"DUCK"
    # DuckDB's version map: v1.5.x writes and reads storage version 68 and serialization version 7
    # (DuckDB 2.0's default is newer: 1.5 refuses it with "we can only read versions between 64 and 68").
    assert int.from_bytes(raw[12:20], "little") == 68
    assert pub.storage_header(db) == {"storage_number": 68, "serialization_number": 7, "written_by": "v2.0.0"}
    tags = read(db, "SELECT tags FROM duckdb_databases() WHERE path = ?", [str(db)])
    assert tags == [({"storage_version": "v1.5.0+"},)]


def duckdb_15_wheel() -> str | None:
    """A DuckDB 1.5 wheel for this Python, if one is on this machine (no network in tests)."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    places = [os.environ.get("DUCKDB_15_WHEEL", ""), f"/opt/pypi/files/duckdb-1.5.*-{tag}-*.whl"]
    places += [f"/opt/wheels/duckdb-1.5.*-{tag}-*.whl"]
    found = sorted(w for place in places if place for w in glob.glob(place) if "x86_64" in w or "aarch64" in w)
    return found[-1] if found else None


def test_a_duckdb_1_5_reader_opens_the_published_file(warehouse, tmp_path):
    wheel = duckdb_15_wheel()
    if wheel is None:
        pytest.skip("no DuckDB 1.5 wheel on this machine (set DUCKDB_15_WHEEL); the header test still ran")
    out = tmp_path / "published"
    result = pub.publish(warehouse, out, report=False)
    site = tmp_path / "duckdb15"
    zipfile.ZipFile(wheel).extractall(site)  # a wheel is a zip: no venv, no network
    script = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "names = [n for (n,) in con.execute('SELECT table_name FROM duckdb_tables()').fetchall()]; "
        "print(json.dumps({'version': duckdb.__version__, "
        "'rows': {n: con.execute(f'SELECT count(*) FROM \"{n}\"').fetchall()[0][0] for n in names}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out / "marts.duckdb")],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["version"].startswith("1.5.")
    assert seen["rows"] == result["rows"]


def fail_on_third_copy(monkeypatch):
    real, calls = pub.copy_table, []

    def copy(con, name):
        calls.append(name)
        if len(calls) == 3:
            raise RuntimeError("disk full (simulated) while copying the 3rd mart")
        real(con, name)

    monkeypatch.setattr(pub, "copy_table", copy)


def fail_in_report(monkeypatch):
    def render(*args, **kwargs):
        raise RuntimeError("report failed (simulated)")

    monkeypatch.setattr("pipeline.report.render_report", render)


def fail_storage_check(monkeypatch):
    monkeypatch.setattr(pub, "storage_header", lambda path: {"storage_number": 69, "serialization_number": 8})


def fail_mid_swap(monkeypatch):
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError("rename failed (simulated) half-way through the swap")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("fail", [fail_on_third_copy, fail_in_report, fail_storage_check, fail_mid_swap])
def test_a_failed_publish_leaves_the_previous_version_byte_identical(fail, warehouse, tmp_path, monkeypatch):
    out = tmp_path / "published"
    pub.publish(warehouse, out)
    before = snapshot(out)

    fail(monkeypatch)
    with pytest.raises((RuntimeError, OSError)):
        pub.publish(variant(warehouse, tmp_path / "w1.duckdb", extra_rows=1, new_mart="mart_added_later"), out)
    monkeypatch.undo()

    assert snapshot(out) == before  # same files, same bytes: no temp file left, nothing half-replaced


def test_temp_files_of_a_killed_publish_are_cleaned_but_a_live_ones_kept(warehouse, tmp_path):
    out = tmp_path / "published"
    (out / "parquet").mkdir(parents=True)
    dead = out / "parquet" / "dim_agents.parquet.publish-tmp-4194305-dead"  # above Linux's largest pid
    live = out / f"marts.duckdb.publish-tmp-{os.getppid()}-live"
    dead.write_bytes(b"half")
    live.write_bytes(b"busy")
    pub.publish(warehouse, out, report=False)
    assert not dead.exists()
    assert live.exists()


def start_readers(db: Path, tmp_path: Path, *modes: str) -> list[tuple[subprocess.Popen, Path]]:
    """Start one reader process per mode and wait until each has read the file once."""
    outs = [tmp_path / f"reader-{mode}.json" for mode in modes]
    procs = [
        subprocess.Popen([sys.executable, str(READER), str(db), str(out), str(tmp_path / "stop"), mode])
        for out, mode in zip(outs, modes, strict=True)
    ]
    deadline = time.monotonic() + 30
    for proc, out in zip(procs, outs, strict=True):
        while not Path(str(out) + ".ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "a reader did not start"
            time.sleep(0.05)
    return list(zip(procs, outs, strict=True))


def test_readers_holding_the_file_open_see_no_error_and_only_complete_versions(warehouse, tmp_path):
    out = tmp_path / "published"
    warehouses = [variant(warehouse, tmp_path / f"w{k}.duckdb", extra_rows=k) for k in range(4)]
    versions = [pub.publish(warehouses[0], out, report=False)["rows"]]
    db = out / "marts.duckdb"
    readers = start_readers(db, tmp_path, "hold", "reopen")
    try:
        for w in warehouses[1:]:
            time.sleep(0.3)
            started = time.monotonic()
            versions.append(pub.publish(w, out)["rows"])  # with the report: the whole publish step
            assert time.monotonic() - started < 30, "the publish was held up"
        time.sleep(0.3)
    finally:
        (tmp_path / "stop").touch()
        codes = [proc.wait(timeout=30) for proc, _ in readers]
    assert codes == [0, 0]
    assert len({json.dumps(v, sort_keys=True) for v in versions}) == 4  # four distinguishable versions

    held, reopened = (json.loads(path.read_text()) for _, path in readers)
    assert held["errors"] == [] and reopened["errors"] == []
    assert len(held["seen"]) >= 10 and len(reopened["seen"]) >= 10
    # The open connection keeps the file it opened (Linux keeps the replaced inode): always version 0.
    assert all(seen == versions[0] for seen in held["seen"])
    # A reader that reconnects sees whole versions only, in publishing order, ending with the last one.
    order = [versions.index(seen) for seen in reopened["seen"]]  # ValueError if a poll saw a mix
    assert order == sorted(order)
    assert set(order) == {0, 1, 2, 3}  # each version stays up a second or more: every one was seen
    assert json.loads((out / "manifest.json").read_text())["tables"]["dim_agents"]["rows"] == versions[3]["dim_agents"]


def test_the_cli_publishes_and_builds_the_report(warehouse, tmp_path):
    out = tmp_path / "published"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.publish", "--warehouse", str(warehouse), "--out-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("marts.duckdb", "report.html", "manifest.json"):
        assert str(out / name) in proc.stdout
        assert (out / name).exists()
    assert "cs_pnl_monthly" in proc.stdout


def test_nothing_new_publishes_nothing_and_a_changed_row_publishes_anew(warehouse, tmp_path):
    """A rerun over the same source data (`make demo` twice) keeps the published version, `published_at` and
    every byte; one changed row in any mart is a new version."""
    out = tmp_path / "published"
    first = pub.publish(warehouse, out)
    assert first["unchanged"] is False
    before = snapshot(out)
    time.sleep(1.1)  # published_at has whole seconds: a new version would show a new one

    again = pub.publish(warehouse, out)
    assert again["unchanged"] is True
    assert again["published_at"] == first["published_at"]
    assert again["rows"] == first["rows"]
    assert snapshot(out) == before

    changed = variant(warehouse, tmp_path / "w1.duckdb")
    con = duckdb.connect(str(changed))
    try:  # same row count, one amount a cent higher
        con.execute("UPDATE marts.cs_pnl_monthly SET amount = amount + 0.01 WHERE rowid = 0")
    finally:
        con.close()
    third = pub.publish(changed, out)
    assert third["unchanged"] is False
    assert third["published_at"] > first["published_at"]
    assert json.loads((out / "manifest.json").read_text())["published_at"] == third["published_at"]
