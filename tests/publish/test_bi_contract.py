"""The published marts as a contract for BI tools: typed months, finality on every row, declared schemas that
do not follow the data, a version table readers can query, and what a reader must do to see a new version.

Real parts: the tiny sandbox warehouse built by `dbt build` (conftest), `pipeline.publish`, DuckDB and
SQLAlchemy's connection pool (what pooled BI tools and notebooks keep open).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import yaml
from sqlalchemy.pool import QueuePool

from pipeline import publish as pub
from tests.publish.conftest import read, variant

MARTS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"


def version_read_by(con) -> str:
    return con.execute("SELECT published_at FROM publication").fetchall()[0][0].isoformat()


def publish_two_versions(warehouse: Path, tmp_path: Path) -> tuple[Path, dict, callable]:
    """Publish version 1 and return (db, its result, a function publishing version 2 a second later)."""
    out = tmp_path / "published"
    first = pub.publish(warehouse, out, report=False)
    second_warehouse = variant(warehouse, tmp_path / "w2.duckdb", extra_rows=1)

    def publish_second() -> dict:
        time.sleep(1.1)  # published_at is to the second: two versions must differ in it
        return pub.publish(second_warehouse, out, report=False)

    return out / "marts.duckdb", first, publish_second


def test_the_version_table_names_what_is_published(warehouse, tmp_path):
    out = tmp_path / "published"
    result = pub.publish(warehouse, out, report=False)
    manifest = json.loads((out / "manifest.json").read_text())
    db = out / "marts.duckdb"

    (row,) = read(db, "SELECT published_at, as_of, rule_version, reporting_currency, months_open FROM publication")
    assert row[0].isoformat() == manifest["published_at"] == result["publication"]["published_at"]
    assert row[1].isoformat() == manifest["publication"]["as_of"]
    assert row[2:4] == ("v2", "USD")
    months = read(db, "SELECT month, status, is_final FROM publication_months ORDER BY month")
    assert [m for m, *_ in months] == [m for (m,) in read(db, "SELECT month FROM cs_pnl_monthly_wide ORDER BY 1")]
    assert row[4] == sum(status == "open" for _, status, _ in months)
    assert all(is_final == (status == "closed") for _, status, is_final in months)


def test_a_connection_held_across_a_publish_keeps_its_version_until_the_process_closes_every_connection(
    warehouse, tmp_path
):
    db, first, publish_second = publish_two_versions(warehouse, tmp_path)
    held = duckdb.connect(str(db), read_only=True)
    try:
        assert version_read_by(held) == first["published_at"]
        second = publish_second()
        assert version_read_by(held) == first["published_at"]  # the replaced file stays open under it
        # DuckDB's instance cache: a new connection of this process, while one to the path is open, gets the
        # same (old) database. Reconnecting is not enough; this is why the README says to close them all.
        again = duckdb.connect(str(db), read_only=True)
        try:
            assert version_read_by(again) == first["published_at"]
        finally:
            again.close()
    finally:
        held.close()
    fresh = duckdb.connect(str(db), read_only=True)  # every connection was closed: the new file is opened
    try:
        assert version_read_by(fresh) == second["published_at"] != first["published_at"]
    finally:
        fresh.close()


def test_a_pooled_reader_sees_the_new_version_once_its_pool_is_disposed(warehouse, tmp_path):
    db, first, publish_second = publish_two_versions(warehouse, tmp_path)
    # What a pooled SQLAlchemy engine does (Superset, Metabase, a dashboard app): connections are kept and reused.
    pool = QueuePool(lambda: duckdb.connect(str(db), read_only=True), pool_size=2, reset_on_return=None)
    try:
        conn = pool.connect()
        assert version_read_by(conn.dbapi_connection) == first["published_at"]
        conn.close()  # back to the pool, still open
        second = publish_second()
        conn = pool.connect()
        assert version_read_by(conn.dbapi_connection) == first["published_at"]  # the pool's connection: old
        conn.close()
        pool.dispose()  # closes every pooled connection: the next one opens the file now at the path
        conn = pool.connect()
        assert version_read_by(conn.dbapi_connection) == second["published_at"]
        conn.close()
    finally:
        pool.dispose()


def parquet_schemas(folder: Path) -> dict[str, str]:
    """Each Parquet file's physical schema (types and required/optional per column), as text."""
    return {  # the first line of the text names the Python object: left out
        p.stem: "\n".join(str(pq.ParquetFile(p).schema).splitlines()[1:])
        for p in sorted((folder / "parquet").glob("*.parquet"))
    }


def test_parquet_schemas_stay_the_same_whatever_the_data_holds(warehouse, tmp_path):
    pub.publish(warehouse, tmp_path / "one", report=False)
    other = tmp_path / "other.duckdb"
    shutil.copyfile(warehouse, other)
    con = duckdb.connect(str(other))
    try:  # different data: a mart emptied, the empty one filled, nulls filled in, nothing else changed
        con.execute("DELETE FROM marts.fct_attributed_orders")
        con.execute("""INSERT INTO marts.cs_pnl_adjustments VALUES (DATE '2026-01-01', DATE '2026-02-01', 'cost_other',
                       1.00, 'late data', 2.00, 3.00, now(), 'v2', false, NULL)""")
        con.execute("UPDATE marts.fct_campaign_touches SET first_reply_at = touch_at")
        con.execute("UPDATE marts.dim_agents SET coupon_codes = 'X', gorgias_user_id = 1, name = 'n', role = 'r'")
        con.execute("UPDATE marts.campaign_performance_monthly SET final_on = DATE '2026-01-01'")
        nullable_cells = con.execute("SELECT count(*) FROM marts.fct_campaign_touches WHERE first_reply_at IS NULL")
        assert nullable_cells.fetchall() == [(0,)]
    finally:
        con.close()
    pub.publish(other, tmp_path / "two", report=False)

    one, two = parquet_schemas(tmp_path / "one"), parquet_schemas(tmp_path / "two")
    assert set(one) == set(two) and one == two
    assert read(other, "SELECT count(*) FROM marts.fct_attributed_orders") == [(0,)]
    # and the schema is the contract's: a column is required exactly when the contract says not null
    contract = read(
        warehouse,
        "SELECT table_name, column_name, is_nullable FROM duckdb_columns() WHERE schema_name = 'marts'",
    )
    files = {name: pq.read_schema(tmp_path / "two" / "parquet" / f"{name}.parquet") for name in two}
    for table, column, nullable in contract:
        assert files[table].field(column).nullable == nullable, (table, column)


def mart_models() -> dict[str, dict]:
    models = yaml.safe_load((MARTS_DIR / "_marts__models.yml").read_text())["models"]
    return {m["name"]: m for m in models}


def test_every_mart_has_date_months_finality_one_money_precision_and_an_enforced_contract(warehouse):
    columns = read(
        warehouse,
        """SELECT table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns()
           WHERE schema_name = 'marts' ORDER BY table_name, column_index""",
    )
    tables = sorted({t for t, *_ in columns})
    assert sorted(p.stem for p in MARTS_DIR.glob("*.sql")) == tables
    declared = mart_models()
    for table in tables:
        of_table = {c: (kind, nullable, comment) for t, c, kind, nullable, comment in columns if t == table}
        model = declared[table]
        sql = (MARTS_DIR / f"{table}.sql").read_text()
        assert model.get("config", {}).get("contract", {}).get("enforced") is True or "contract={'enforced'" in sql
        assert [c["name"] for c in model["columns"]] == list(of_table), table  # the contract lists every column
        assert all(c.get("data_type") for c in model["columns"]), table
        for column, (kind, _, comment) in of_table.items():
            if column == "month" or column.endswith("_month"):
                assert kind == "DATE", (table, column)
            if kind.startswith("DECIMAL") and kind.endswith(",2)"):
                assert kind == "DECIMAL(18,2)", (table, column)
                if "not money" in (comment or ""):  # an estimated count of orders, kept to the hundredth
                    continue
                # money names its currency: the reporting one, or the order's for amounts kept in it
                assert "USD" in comment or "currency the customer paid in" in comment, (table, column)
            assert "§" not in (comment or "") and "var " not in (comment or ""), (table, column)
        if table != "publication":
            assert of_table["is_final"][:2] == ("BOOLEAN", False), table
            assert of_table["final_on"][0] == "DATE", table


def test_a_monthly_chart_the_way_superset_queries_it_has_one_row_per_month(warehouse, tmp_path):
    out = tmp_path / "published"
    pub.publish(warehouse, out, report=False)
    db = out / "marts.duckdb"
    months = [m for (m,) in read(db, "SELECT month FROM publication_months ORDER BY month")]
    assert len(months) >= 3 and all(isinstance(m, date) and m.day == 1 for m in months)
    # Superset's DuckDB engine spec: time grain P1M is DATE_TRUNC('month', {col}); the time range is compared
    # as text literals; the metric is SUM(col). On the wide P&L and on the long one filtered to a line.
    for table, metric, where in (
        ("cs_pnl_monthly_wide", "net_contribution", "1 = 1"),
        ("cs_pnl_monthly", "amount", "line = 'net_contribution'"),
    ):
        rows = read(
            db,
            f"""SELECT DATE_TRUNC('month', month) AS month, SUM({metric}) AS "SUM({metric})"
                FROM main.{table}
                WHERE month >= '2000-01-01 00:00:00.000000' AND month < '2100-01-01 00:00:00.000000' AND ({where})
                GROUP BY DATE_TRUNC('month', month)
                ORDER BY "SUM({metric})" DESC
                LIMIT 10000""",
        )
        charted = sorted(m.date() if isinstance(m, datetime) else m for m, _ in rows)
        assert charted == months, table  # one row per month, no NULL bucket
        net = dict(read(db, "SELECT month, net_contribution FROM cs_pnl_monthly_wide"))
        assert {(m.date() if isinstance(m, datetime) else m): total for m, total in rows} == net
