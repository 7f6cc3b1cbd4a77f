"""`python -m expectations validate --layer raw|marts [--all-rows] [--warehouse PATH] [--run-id ID]`: exit 1 on
failure. The raw gate reads only the loads after the last one a passing gate covered, and the marts gate parses the
raw JSON of those loads only (`expectations.facts`), unless --all-rows."""

from __future__ import annotations

import argparse
import sys

from expectations.runner import DataQualityFailed, validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m expectations", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("validate", help="run the data-quality gate of one layer")
    run.add_argument("--layer", choices=["raw", "marts"], required=True)
    run.add_argument("--warehouse", help="DuckDB file (default $WAREHOUSE_PATH or $DATA_DIR/warehouse.duckdb)")
    run.add_argument("--run-id", help="stored with every result row (default: layer + time)")
    run.add_argument("--all-rows", action="store_true", help="every raw row, not only those of new loads")
    args = parser.parse_args(argv)
    try:
        result = validate(args.layer, warehouse=args.warehouse, run_id=args.run_id, everything=args.all_rows)
    except DataQualityFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
