"""§2 through the real transform DAG: a SKU without a product cost stops the run before publishing.

The DAG renders dbt with astronomer-cosmos, whose watcher mode ran `dbt build --resource-type model ...`
when tests were not rendered: every data test, `amount_is_known` included, was left out, and a null COGS
was published with nothing in `dq_failures`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from sandbox.calendar import from_us


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def airflow_data(tiny_warehouse, tmp_path, monkeypatch) -> Path:
    """A copy of the session's tiny warehouse with its marts published, and Airflow configured over it."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("DATA_DIR", str(data))
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    shutil.copy(tiny_warehouse, data / "warehouse.duckdb")
    from pipeline.airflow_local import configure, migrate
    from pipeline.dbt import ensure_manifest
    from pipeline.publish import publish

    configure(data)
    ensure_manifest()
    migrate()
    publish()
    return data


@pytest.mark.slow  # one transform DAG run
def test_a_sku_without_a_cost_stops_the_transform_dag_and_nothing_is_published(tiny, airflow_data):
    from pipeline.airflow_local import run

    warehouse, published = airflow_data / "warehouse.duckdb", airflow_data / "published"
    before = snapshot(published)
    con = duckdb.connect(str(warehouse))
    try:  # the SKU of an attributed order loses its cost, as if finance had left it out of product_costs.csv
        (sku,) = con.execute("""
            SELECT min(l.sku) FROM staging.stg_shopify__order_lines AS l
            JOIN marts.fct_attributed_orders AS f ON f.order_id = l.order_id AND f.row_type = 'order'""").fetchone()
        con.execute("DELETE FROM raw_finance.product_costs WHERE sku = ?", [sku])
    finally:
        con.close()
    clock = from_us(json.loads((tiny / "manifest.json").read_text())["clock_us"])

    with pytest.raises(RuntimeError, match="transform ended"):
        run("transform", logical_date=clock, conf={"as_of": clock.isoformat()})

    assert snapshot(published) == before, "the published marts or report changed"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        problems = [p for (p,) in con.execute("SELECT problem FROM dq_failures.order_cogs_is_known").fetchall()]
        nulls = con.execute("SELECT count(*) FROM marts.fct_attributed_orders WHERE cogs IS NULL").fetchone()[0]
    finally:
        con.close()
    assert problems and all(f"no product cost for SKU {sku}" in p for p in problems), problems[:3]
    assert nulls == 0, "a mart was rebuilt from the ledger's unknown COGS"
