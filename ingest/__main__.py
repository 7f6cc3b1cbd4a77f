"""Command line of the pipeline's ingest side (the DAG tasks call the same functions).

python -m ingest extract --vendor shopify [--since ISO] [--until ISO] [--full-refresh] [--run-id ID]
python -m ingest load    --vendor shopify
python -m ingest finance [--dir FOLDER]
python -m ingest adopt-sources   # a warehouse from before sources were recorded: its records are from these
"""

from __future__ import annotations

import argparse
import json
import logging

import settings
from ingest.errors import run_cli
from ingest.parse import parse_ts
from ingest.vendors import CLIENTS


def run_id_arg(value: str) -> str:
    from ingest.landing import InvalidRunId, check_run_id

    try:
        return check_run_id(value)
    except InvalidRunId as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="vendor API -> landing files (never opens the warehouse)")
    p.add_argument("--vendor", choices=sorted(CLIENTS), action="append", required=True)
    p.add_argument("--since", type=parse_ts, help="start of a backfill window (default: watermark - lookback)")
    p.add_argument("--until", type=parse_ts, help="end of a backfill window (default: open)")
    p.add_argument("--full-refresh", action="store_true")
    p.add_argument("--run-id", type=run_id_arg, help="names the landing files (default: time + random)")
    p = sub.add_parser("load", help="landing files -> raw_<vendor>.<entity> (the single writer)")
    p.add_argument("--vendor", choices=sorted(CLIENTS), action="append", required=True)
    p = sub.add_parser("finance", help="validate and load the finance input CSVs")
    p.add_argument("--dir", help="folder of the CSVs (default $FINANCE_INPUTS_DIR)")
    sub.add_parser("adopt-sources", help="record the configured connections and finance folder as the sources of "
                   "the records a warehouse loaded before sources were recorded")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.command == "extract":
        from ingest.extract import Window, extract_vendor

        window = Window(args.since, args.until, args.full_refresh)
        for vendor in args.vendor:
            out = extract_vendor(vendor, window, args.run_id)
            print(json.dumps([{k: m[k] for k in ("entity", "status", "pages", "records", "rejected")} for m in out]))
    elif args.command == "load":
        from ingest.load import connect, load_vendor

        con = connect()
        try:
            for vendor in args.vendor:
                print(json.dumps(load_vendor(vendor, con)))
        finally:
            con.close()
    elif args.command == "adopt-sources":
        adopt_sources()
    else:
        from pathlib import Path

        from ingest.finance import finance_inputs_dir, load_finance_inputs
        from ingest.load import connect

        con = connect()
        try:
            print(
                json.dumps(load_finance_inputs(con, Path(args.dir) if args.dir else finance_inputs_dir()), default=str)
            )
        finally:
            con.close()


def adopt_sources() -> None:
    """Only sources that hold rows and have no identity yet are recorded: the others record theirs on load."""

    from ingest.connections import get_connection
    from ingest.finance import finance_inputs_dir
    from ingest.identity import FINANCE, adopt, connection_identity, finance_identity, holds_rows
    from ingest.load import connect

    con = connect()
    try:
        identities = {
            v: connection_identity(get_connection(c.conn_id)) for v, c in CLIENTS.items() if holds_rows(con, v)
        }
        if settings.finance_inputs_value() and holds_rows(con, FINANCE):
            identities[FINANCE] = finance_identity(finance_inputs_dir())
        print(json.dumps(adopt(con, identities), indent=1))
    finally:
        con.close()


if __name__ == "__main__":
    run_cli(main)
