from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="package")
def warehouse(tiny_warehouse) -> Path:
    """The session's tiny warehouse. Tests never write it: they publish from it, or from a copy (`variant`)."""
    return tiny_warehouse


def variant(warehouse: Path, dest: Path, extra_rows: int = 0, new_mart: str | None = None) -> Path:
    """A copy of the warehouse whose marts differ: every non-empty mart gets `extra_rows` duplicated rows
    (so each published version has its own row counts), and optionally one more mart."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, dest)
    con = duckdb.connect(str(dest))
    try:
        names = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()
        for (name,) in names:
            if name == "publication":  # the version table holds one row by construction
                continue
            con.execute(f'INSERT INTO marts."{name}" SELECT * FROM marts."{name}" LIMIT {extra_rows}')
        if new_mart:
            con.execute(f"CREATE TABLE marts.{new_mart} AS SELECT '2026-01' AS month, 12.34::DECIMAL(18, 2) AS amount")
    finally:
        con.close()
    return dest


def read(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Open, query, close: DuckDB caches an open file per path in-process, so a connection left open would
    keep showing a file that has since been replaced."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def warehouse_marts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1").fetchall()
        return {n: con.execute(f'SELECT count(*) FROM marts."{n}"').fetchall()[0][0] for (n,) in names}
    finally:
        con.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the folder, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def no_dbt_docs(monkeypatch):
    """The dbt docs site costs a `dbt docs generate` per fresh folder: only the tests about it turn it on."""
    monkeypatch.setenv("PUBLISH_DBT_DOCS", "false")
