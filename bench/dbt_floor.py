"""dbt's floor: the project itself, run on empty copies of the tables it reads. Every node runs as it does on
the data (the same materializations, tests, hooks, Jinja, metadata queries and artifacts), but its SQL has no
rows to work on, so what the run costs is what dbt costs per run and per node, not what the data costs:
no change to the models' SQL can take a build below it.

    python -m bench.dbt_floor SOURCE.duckdb OUT.duckdb MANIFEST.json

Creates every source table the manifest names, as SOURCE declares it (columns, types, constraints), with no
rows, in a new OUT. Prints {"tables": N}. The bench then times the same dbt stages on OUT as on the warehouse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from ingest.sql import identifier, literal


def source_tables(manifest: Path) -> list[tuple[str, str]]:
    """(schema, table) of every source the dbt project reads."""
    sources = json.loads(manifest.read_text())["sources"].values()
    return sorted({(s["schema"], s["identifier"] or s["name"]) for s in sources})


def empty_copy(source: Path, out: Path, tables: list[tuple[str, str]]) -> int:
    """OUT holds each of `tables` as SOURCE has it, with no rows; a table SOURCE lacks is left out (dbt's
    freshness and tests treat it as the warehouse would). Returns how many were copied."""
    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out))
    try:
        con.execute(f"ATTACH {literal(source)} AS src (READ_ONLY)")
        # each table's own DDL (constraints too), as the warehouse's catalog holds it
        catalog = "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = 'src'"
        ddl = {(schema, table): sql for schema, table, sql in con.execute(catalog).fetchall()}
        con.execute("DETACH src")
        wanted = [t for t in tables if t in ddl]
        for schema, table in wanted:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
            con.execute(ddl[schema, table])
        return len(wanted)
    finally:
        con.close()


if __name__ == "__main__":
    source, out, manifest = (Path(a) for a in sys.argv[1:4])
    print(json.dumps({"tables": empty_copy(source, out, source_tables(manifest))}), flush=True)
