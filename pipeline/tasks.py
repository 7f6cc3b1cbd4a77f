"""The bodies of the Airflow tasks: each DAG task is one call here (DAG files stay thin and parse fast).

Every function takes plain values (vendor names, ISO instants, months) and returns a small JSON-able
summary for XCom: no connections, secrets or data frames ever go through XCom.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
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
    from settings import warehouse_path

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


def check_freshness() -> dict:
    """Hours since each endpoint's last successful load, by `dbt source freshness` with the thresholds the source
    declarations give (ingest/sources -> the generated sources YAML); raises SourceStale naming the endpoints
    past theirs. While a source (or the finance inputs) has never loaded, the run is skipped, not failed: right
    after a first unpause the marts would be partial, and nothing has gone wrong yet."""
    import json
    import tempfile
    from pathlib import Path

    import duckdb

    from ingest.finance import last_loaded_fingerprint
    from ingest.sources import vendors
    from pipeline.dbt import DbtFailed, run_dbt
    from settings import warehouse_path

    path = warehouse_path()
    if not path.exists():
        skip("no source has loaded yet")
    con = duckdb.connect(str(path), read_only=True)
    try:
        runs = """SELECT count(*) FROM information_schema.tables
                  WHERE table_schema = 'ops' AND table_name = 'extract_runs'"""
        loaded = (
            {
                v
                for (v,) in con.execute(
                    "SELECT DISTINCT vendor FROM ops.extract_runs WHERE status = 'succeeded'"
                ).fetchall()
            }
            if con.execute(runs).fetchall()[0][0]
            else set()
        )
        finance_loaded = last_loaded_fingerprint(con) is not None
    finally:
        con.close()  # dbt opens the file next
    never = [v for v in vendors() if v not in loaded] + ([] if finance_loaded else ["finance inputs"])
    if never:
        skip(f"waiting for the first load of {', '.join(never)}")
    # a file of this run's own (never an earlier run's results), named to dbt: wherever its target path is
    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        results_file = Path(tmp) / "sources.json"
        try:
            run_dbt("source freshness", select=[f"source:{v}" for v in vendors()], quiet=True,
                    extra=["--output", str(results_file)])  # fmt: skip
            failed = None
        except DbtFailed as e:
            failed = e  # stale: the results say which; without results, dbt itself failed
        if not results_file.exists():
            raise failed or DbtFailed("dbt source freshness wrote no results")
        results = {r["unique_id"].split(".", 2)[2]: r for r in json.loads(results_file.read_text())["results"]}
    ages = {name: round(r["max_loaded_at_time_ago_in_s"] / 3600, 2) for name, r in results.items()
            if r.get("max_loaded_at_time_ago_in_s") is not None}  # fmt: skip
    if stale := {name: ages.get(name) for name, r in results.items() if r["status"] != "pass"}:
        raise SourceStale(f"sources stopped arriving (hours since the last load): {stale}")
    if failed:
        raise failed
    log.info("freshness: hours since each endpoint's last load %s", ages)
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
    from pipeline.close import close_month, closed_months
    from settings import project_vars, warehouse_path

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
