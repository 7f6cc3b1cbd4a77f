"""Shared DAG settings, in one place: schedules, retries, the single-writer pool, alerts and the
assets that chain the DAGs (the values that come from the environment are read by `settings`). Imports
nothing heavy: every task process parses its DAG file again."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset

import settings
from ingest.sources import vendors  # the source declarations: light by design, no client or driver imported

# 1 slot: every task that opens the warehouse runs in it, readers too: DuckDB locks the file per process,
# so a reader beside a writer fails one of them ("Could not set lock on file")
WRITER_POOL = "duckdb_writer"

# vendor -> default schedule, from its declaration (ingest/sources); override with SCHEDULE_<VENDOR>
VENDOR_SCHEDULES = {name: vendor.schedule for name, vendor in vendors().items()}

START_DATE = settings.start_date()
CLOSE_DAY = settings.close_day_of_month()  # the month-end close runs on this day
FINANCE_CHECK_SCHEDULE = settings.finance_check_schedule()

RAW_ASSETS = {vendor: Asset(f"duckdb://warehouse/raw_{vendor}") for vendor in VENDOR_SCHEDULES}
FINANCE_ASSET = Asset("duckdb://warehouse/raw_finance")
CLOSE_ASSET = Asset("duckdb://warehouse/ops/cs_pnl_closed")
PUBLISHED_ASSET = Asset("file://published/marts.duckdb")


def schedule_for(vendor: str):
    """The vendor's cron as a timetable with real data intervals: Airflow 3 defaults to CronTriggerTimetable,
    whose runs (backfills too) start and end at one instant, so a backfill of an hour read an empty window."""
    from airflow.timetables.interval import CronDataIntervalTimetable

    return CronDataIntervalTimetable(settings.vendor_schedule(vendor, VENDOR_SCHEDULES[vendor]), "UTC")


def conf_as_of(conf: dict | None, asset_events=None) -> str:
    """`dag_run.conf["as_of"]`, else the latest instant the triggering extracts read up to (their asset
    events' `until`), as a canonical UTC instant ('' = now), or a clear error naming the parameter: DAG
    templates call it (user_defined_macros), so crafted text never reaches dbt's SQL."""
    from ingest.parse import instant_text, parse_ts

    if value := (conf or {}).get("as_of"):
        return instant_text(value, 'dag_run.conf["as_of"]')
    untils = [
        parse_ts(instant_text(e.extra["until"], "asset event until"))
        for events in (asset_events or {}).values()
        for e in events
        if (e.extra or {}).get("until")
    ]
    return instant_text(max(untils).isoformat(), "asset event until") if untils else ""


def extract_window(context: dict) -> tuple[str | None, str | None]:
    """(since, until) of an extraction run: `conf` {"since", "until"} first; a backfill reads its data
    interval; a scheduled run reads from the loaded watermark (since None) up to its interval's end."""
    run = context["dag_run"]
    conf = run.conf or {}
    backfill = "backfill" in str(run.run_type).lower()  # "backfill", or the enum DagRunType.BACKFILL_JOB
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    since = conf.get("since") or (start.isoformat() if backfill and start else None)
    return since, conf.get("until") or (end.isoformat() if end else None)


def alert_on_failure(context: dict) -> None:
    from pipeline.alerts import on_failure

    on_failure(context)


# Tasks that talk to a network retry with exponential backoff; the rest fail at once (a warehouse or
# data-quality failure does not get better by retrying).
NETWORK_RETRIES = {
    "retries": settings.network_retries(),
    "retry_delay": settings.network_retry_delay(),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}

DEFAULT_ARGS = {"owner": "data-engineering", "retries": 0, "on_failure_callback": alert_on_failure}

DAG_DEFAULTS = {
    "start_date": START_DATE,
    "catchup": False,  # backfills are explicit (`airflow backfill create`); max_active_runs keeps them serial
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}
