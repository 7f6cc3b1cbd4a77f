"""The bodies of the Airflow tasks: each DAG task is one call here (DAG files stay thin and parse fast).

Every function takes plain values (vendor names, ISO instants, months) and returns a small JSON-able
summary for XCom: no connections, secrets or data frames ever go through XCom.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from ingest.errors import PermanentError

log = logging.getLogger(__name__)
T = TypeVar("T", bound=Callable)


def fails_for_good(body: T) -> T:
    """A PermanentError (a refused credential, a malformed connection, another source's records) fails the
    Airflow task without its retries: each retry would meet the same error, minutes later (a 401 cost 10.5
    minutes of retries)."""

    @functools.wraps(body)
    def task_body(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except PermanentError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from exc

    return task_body  # type: ignore[return-value]


@fails_for_good
def extract(vendor: str, since: str | None, until: str | None) -> dict:
    """Vendor API -> landing files. `since` None = from the loaded watermark minus the lookback (a
    scheduled run); a backfill passes its data interval. Never opens the warehouse."""
    from ingest.extract import Window, extract_vendor
    from ingest.parse import parse_ts

    window = Window(parse_ts(since) if since else None, parse_ts(until) if until else None)
    manifests = extract_vendor(vendor, window)
    return {m["entity"]: {"records": m["records"], "rejected": m["rejected"], "pages": m["pages"]} for m in manifests}


@fails_for_good
def load(vendor: str) -> dict:
    """Landing files -> raw_<vendor>.* (the single writer: runs in the duckdb_writer pool)."""
    from ingest.load import load_vendor

    return {r["endpoint"]: r["rows_merged"] for r in load_vendor(vendor)}


def finance_inputs_changed() -> bool:
    """True when the finance CSVs differ from what the warehouse last loaded (or were never loaded)."""
    import duckdb

    from ingest.finance import finance_inputs_dir, fingerprint_finance_inputs, last_loaded_fingerprint
    from ingest.paths import warehouse_path

    path = warehouse_path()
    if not path.exists():
        return True
    con = duckdb.connect(str(path), read_only=True)
    try:
        loaded = last_loaded_fingerprint(con)
    finally:
        con.close()
    return loaded != fingerprint_finance_inputs(finance_inputs_dir())


@fails_for_good
def load_finance() -> dict:
    """Validate and load the finance CSVs all-or-nothing (a bad file fails with file, line, column)."""
    from ingest.finance import finance_inputs_dir, load_finance_inputs
    from ingest.load import connect

    con = connect()
    try:
        result = load_finance_inputs(con, finance_inputs_dir())
    finally:
        con.close()
    return {"status": result["status"], "files": {f: v["rows"] for f, v in result["files"].items()}}


def check_freshness(max_age_hours: dict[str, float]) -> dict:
    """Hours since each vendor's last successful load; raises SourceStale naming the ones that loaded before
    and then stopped. While a source (or the finance inputs) has never loaded, the run is skipped, not
    failed: right after a first unpause the marts would be partial, and nothing has gone wrong yet."""
    import duckdb

    from ingest.finance import last_loaded_fingerprint
    from ingest.paths import warehouse_path

    path = warehouse_path()
    if not path.exists():
        skip("no source has loaded yet")
    con = duckdb.connect(str(path), read_only=True)
    try:
        runs = """SELECT count(*) FROM information_schema.tables
                  WHERE table_schema = 'ops' AND table_name = 'extract_runs'"""
        rows = (
            con.execute(
                "SELECT vendor, max(loaded_at) FROM ops.extract_runs WHERE status = 'succeeded' GROUP BY vendor"
            ).fetchall()
            if con.execute(runs).fetchall()[0][0]
            else []
        )
        finance_loaded = last_loaded_fingerprint(con) is not None
    finally:
        con.close()
    at = datetime.now().astimezone()
    ages = {vendor: round((at - loaded).total_seconds() / 3600, 2) for vendor, loaded in rows}
    never = [v for v in max_age_hours if v not in ages] + ([] if finance_loaded else ["finance inputs"])
    if never:
        skip(f"waiting for the first load of {', '.join(never)}")
    stale = {v: ages[v] for v, limit in max_age_hours.items() if ages[v] > limit}
    if stale:
        raise SourceStale(f"sources stopped arriving (hours since the last load): {stale}")
    log.info("freshness: hours since each source's last load %s", ages)
    return ages


def skip(reason: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    log.info("skipped: %s", reason)
    raise AirflowSkipException(reason)


class SourceStale(RuntimeError):
    """A source has not loaded for longer than its freshness limit."""


def quality_gate(layer: str) -> dict:
    """Great Expectations on the raw layer or the marts; raises (naming expectation, table, values)."""
    from expectations.runner import validate

    result = validate(layer)  # raises DataQualityFailed naming each failed expectation
    return {
        "layer": layer,
        "run_id": result.run_id,
        "expectations": len(result.outcomes),
        "rows": result.rows,
        "seconds": round(result.seconds, 1),
        "data_docs": str(result.docs_index) if result.docs_index else None,
    }


def dbt_build(as_of: str | None, full_refresh: bool = False) -> str:
    """One scheduled `dbt build` (models and data tests) as of the run's data interval end."""
    from pipeline.dbt import SCHEDULED_BUILD_FLAGS, run_dbt

    out = run_dbt("build", as_of=as_of, full_refresh=full_refresh, extra=SCHEDULED_BUILD_FLAGS, quiet=True)
    return next((line.split("  ", 1)[-1] for line in out.splitlines() if "Done. PASS=" in line), "done")


def publish() -> dict:
    from pipeline.publish import publish as publish_marts

    result = publish_marts()
    return {
        "database": result["database"],
        "report": result["report"],
        "rows": result["rows"],
        "source_history_incomplete": result["source_history_incomplete"],
        "published_at": result["published_at"],
        "unchanged": result["unchanged"],  # nothing new: the published version was kept
    }


def close_previous_month(logical_date: str) -> dict:
    """The month-end close of the month before `logical_date`'s month, with its finance pack."""
    from zoneinfo import ZoneInfo

    import duckdb

    from ingest.parse import parse_instant
    from ingest.paths import warehouse_path
    from pipeline.close import close_month, closed_months
    from pipeline.dbt import project_vars

    local = parse_instant(logical_date, "as_of").astimezone(ZoneInfo(project_vars()["store_timezone"]))
    previous = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    if not warehouse_path().exists():
        skip("no warehouse yet: nothing to close")
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        built = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ops' AND table_name = 'cs_pnl_closed'"
        ).fetchall()[0][0]
        already = built and previous in closed_months(con)
    finally:
        con.close()
    if not built:  # a first unpause on the close day runs before the first dbt build
        skip(f"the P&L was never built (no ops.cs_pnl_closed): {previous} cannot be closed yet")
    if already:
        log.info("%s is already closed; nothing to do", previous)
        return {"month": previous, "status": "already closed"}
    return close_month(previous, by="airflow")
