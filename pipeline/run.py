"""The whole pipeline through the real DAGs, in-process (`dag.test()`), against whatever the
AIRFLOW_CONN_* variables and FINANCE_INPUTS_DIR point at: `make run START=... END=...`, and the demo.

    python -m pipeline.run [--start ISO] [--end ISO] [--as-of ISO]

Order: every vendor's extraction DAG (extract -> load), the finance-inputs DAG (loads only when the
files changed), then the transform DAG (freshness, raw gate, dbt build, mart gate, publish). Ends with the
summary of what is published (pipeline/summary.py), or which task failed, why and where its log is.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from ingest.errors import run_cli
from ingest.sources import vendors
from pipeline.airflow_local import DagRunFailed, configure, migrate, run
from pipeline.dbt import ensure_manifest

VENDORS = tuple(vendors())  # every declared vendor (ingest/sources)


def run_pipeline(
    logical_date: datetime | None = None,
    since: str | None = None,
    until: str | None = None,
    as_of: str | None = None,
    say=print,
) -> dict:
    configure()
    ensure_manifest()  # the transform DAG renders one task per dbt model from it
    migrate()
    when = logical_date or datetime.now(UTC)
    # an explicit end: a manual run's data interval ends at the last whole cron interval before it
    window = {k: v for k, v in (("since", since), ("until", until or when.isoformat())) if v}
    timings = {}
    for dag_id, conf in [
        *[(f"extract_{v}", window) for v in VENDORS],
        ("finance_inputs", {}),
        ("transform", {"as_of": as_of} if as_of else {}),
    ]:
        started = time.monotonic()
        # whole lines: a task's warning printed meanwhile must not split a DAG's name from its result
        say(f"    dag {dag_id:<18} running", flush=True)
        try:
            run(dag_id, logical_date=when, conf=conf)
        finally:
            timings[dag_id] = round(time.monotonic() - started, 1)
        say(f"    dag {dag_id:<18} success in {timings[dag_id]:.1f} s", flush=True)
    return timings


def main(argv: list[str] | None = None) -> None:
    from ingest.parse import InvalidInstant, instant_text

    parser = argparse.ArgumentParser(prog="python -m pipeline.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--start", help="extract records updated from this instant (default: the watermarks)")
    parser.add_argument("--end", help="... up to this instant (default: now)")
    parser.add_argument("--as-of", help="the instant the marts describe (default: --end, else now)")
    args = parser.parse_args(argv)
    try:  # parsed here: only canonical instants reach the DAGs' conf (and from there, SQL)
        flags = (("--start", args.start), ("--end", args.end), ("--as-of", args.as_of))
        start, end, as_of = (instant_text(value, flag) if value else None for flag, value in flags)
    except InvalidInstant as e:
        parser.error(str(e))  # a usage error: exit 2
    from pipeline.summary import print_failure, print_summary

    started = datetime.now(UTC)
    try:
        run_pipeline(datetime.fromisoformat(end) if end else None, start, end, as_of or end)
    except DagRunFailed as failed:
        print_failure(failed)
        raise SystemExit(1) from None
    print_summary(started)


if __name__ == "__main__":
    run_cli(main)
