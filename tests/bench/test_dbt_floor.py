"""dbt's floor is the project on the tables it reads with no rows: every source table the manifest names is
there, with the warehouse's columns and types, empty, and nothing else is (no staging, marts or old builds
whose presence would change what dbt does)."""

from __future__ import annotations

import duckdb

from bench.dbt_floor import empty_copy, source_tables
from settings import DBT_MANIFEST


def test_the_floor_holds_every_source_table_empty(tiny_warehouse, tmp_path):
    tables = source_tables(DBT_MANIFEST)
    assert ("raw_shopify", "orders") in tables and ("raw_finance", "fx_rates") in tables

    out = tmp_path / "floor.duckdb"
    copied = empty_copy(tiny_warehouse, out, tables)

    warehouse = duckdb.connect(str(tiny_warehouse), read_only=True)
    floor = duckdb.connect(str(out), read_only=True)
    try:
        held = set(warehouse.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
        present = [t for t in tables if t in held]
        assert copied == len(present) >= 15
        for schema, table in present:
            assert (
                floor.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()
                == warehouse.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()
            )
            assert floor.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0] == 0
        schemas = {s for (s,) in floor.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
        assert schemas == {s for s, _ in present}  # no staging, intermediate or marts
        assert warehouse.execute("SELECT count(*) FROM raw_shopify.orders").fetchone()[0] > 0  # the source had rows
    finally:
        warehouse.close()
        floor.close()
