"""The load's reference: a plain `CREATE TABLE AS` of the same landing files, one table per endpoint, in a
fresh DuckDB file with the same memory cap and no merge, bookkeeping or transaction per endpoint. What the
engine takes to copy the files in; the load (`ingest.load`) does that plus keeping each id's newest version.

    python -m bench.ctas_reference OUT.duckdb     (landing from $DATA_DIR, as the load reads it)

Run right after the first load, while landing holds exactly the files it loaded. Prints {"rows": N}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from ingest.sql import literal_list
from ingest.vendors import CLIENTS
from settings import duckdb_memory_limit, endpoint_landing_dir


def copy_landing(out: Path) -> int:
    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out), config={"memory_limit": duckdb_memory_limit()})
    try:
        con.execute("SET preserve_insertion_order = false")  # as the load sets it
        rows = 0
        for client in CLIENTS.values():
            for ep in client.endpoints:
                files = sorted(str(f) for f in endpoint_landing_dir(ep.vendor, ep.entity).glob("*.parquet"))
                if not files:
                    continue
                con.execute(f"CREATE SCHEMA IF NOT EXISTS raw_{ep.vendor}")  # names from the declarations (code)
                rows += con.execute(
                    f"CREATE TABLE raw_{ep.vendor}.{ep.entity} AS SELECT id, updated_at, extracted_at, run_id,"
                    f" record::VARCHAR AS record FROM read_parquet({literal_list(files)})"
                ).fetchall()[0][0]
        return rows
    finally:
        con.close()
        out.unlink(missing_ok=True)


if __name__ == "__main__":
    print(json.dumps({"rows": copy_landing(Path(sys.argv[1]))}), flush=True)
