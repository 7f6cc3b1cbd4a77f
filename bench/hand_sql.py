"""The engine's limit: the marts computed by one hand-written DuckDB script (`marts_by_hand.sql`) straight
from the raw tables dbt reads, with no dbt, into schema `hand`. The benchmark's speed reference.

    python -m bench.hand_sql WAREHOUSE AS_OF     # AS_OF: ISO instant, e.g. 2026-09-01T05:00:00+00:00
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from settings import duckdb_memory_limit

SCRIPT = Path(__file__).with_name("marts_by_hand.sql")


def run(warehouse: Path, as_of: str) -> float:
    """Rebuild schema `hand` as of `as_of`; return the wall seconds the script took (not the connect or drop)."""
    script = SCRIPT.read_text()
    con = duckdb.connect(str(warehouse), config={"memory_limit": duckdb_memory_limit()})  # capped like dbt's
    try:
        con.execute("SET enable_progress_bar = false")  # no bar in the benchmark's output
        con.execute("DROP SCHEMA IF EXISTS hand CASCADE")  # a rerun starts clean
        con.execute("SET VARIABLE as_of = ?", [as_of])
        start = time.perf_counter()
        con.execute(script)
        return time.perf_counter() - start
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hand_sql", description=__doc__)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("as_of", help="the instant the data describes (ISO 8601)")
    args = parser.parse_args(argv)
    print(f"{run(args.warehouse, args.as_of):.3f}")


if __name__ == "__main__":
    main()
