"""Shared DAG settings, in one place: schedules, retries, the single-writer pool, alerts and the
assets that chain the DAGs. Imports nothing heavy (DAG files must parse in well under a second)."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset

# 1 slot: every task that opens the warehouse runs in it, readers too: DuckDB locks the file per process,
# so a reader beside a writer fails one of them ("Could not set lock on file")
WRITER_POOL = "duckdb_writer"

# vendor -> default schedule; override with SCHEDULE_<VENDOR> (a cron or preset)
VENDOR_SCHEDULES = {"gorgias": "@hourly", "shopify": "@hourly", "recharge": "@daily", "easypost": "@daily"}
# vendor -> hours without a successful load before the freshness check alerts; FRESHNESS_<VENDOR>_HOURS
FRESHNESS_HOURS = {"gorgias": 3, "shopify": 3, "recharge": 30, "easypost": 30}

START_DATE = datetime.fromisoformat(os.environ.get("PIPELINE_START_DATE", "2026-01-01")).replace(tzinfo=UTC)
CLOSE_DAY = int(os.environ.get("CLOSE_DAY_OF_MONTH", "5"))  # the month-end close runs on this day
FINANCE_CHECK_SCHEDULE = os.environ.get("SCHEDULE_FINANCE", "*/15 * * * *")

RAW_ASSETS = {vendor: Asset(f"duckdb://warehouse/raw_{vendor}") for vendor in VENDOR_SCHEDULES}
FINANCE_ASSET = Asset("duckdb://warehouse/raw_finance")
CLOSE_ASSET = Asset("duckdb://warehouse/ops/cs_pnl_closed")
PUBLISHED_ASSET = Asset("file://published/marts.duckdb")


def schedule_for(vendor: str):
    """The vendor's cron as a timetable with real data intervals: Airflow 3 defaults to CronTriggerTimetable,
    whose runs (backfills too) start and end at one instant, so a backfill of an hour read an empty window."""
    from airflow.timetables.interval import CronDataIntervalTimetable

    return CronDataIntervalTimetable(os.environ.get(f"SCHEDULE_{vendor.upper()}", VENDOR_SCHEDULES[vendor]), "UTC")


def freshness_hours() -> dict[str, float]:
    return {v: float(os.environ.get(f"FRESHNESS_{v.upper()}_HOURS", h)) for v, h in FRESHNESS_HOURS.items()}


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
    "retries": int(os.environ.get("NETWORK_RETRIES", "3")),
    "retry_delay": timedelta(seconds=int(os.environ.get("NETWORK_RETRY_DELAY_SECONDS", "60"))),
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


def dbt_task_group(group_id: str, as_of: str):
    """The dbt project as one task per model (astronomer-cosmos, rendered from the dbt manifest so
    parsing stays fast), executed by ONE `dbt build` process (cosmos' watcher mode: a producer task
    runs the build, each model's task reports its result). Without a manifest yet, one plain task."""
    from pipeline.dbt import MANIFEST, PROJECT_DIR

    if not MANIFEST.exists():
        return None
    from cosmos import ProjectConfig

    project = ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False)
    # A plain local Path, not cosmos' ObjectStoragePath: reading through the latter reports lineage, which loads
    # every Airflow plugin (cosmos' own imports FastAPI), 0.6 s added to every parse of this DAG file.
    project.manifest_path = MANIFEST
    with quiet_cosmos_rendering():
        return _dbt_task_group(group_id, as_of, project)


@contextmanager
def quiet_cosmos_rendering():
    """Cosmos warns, when the DAG first imports its operators, that OpenLineage is not installed (we do not use
    it; cosmos has no setting for that hint)."""
    loggers = [logging.getLogger(name) for name in ("cosmos.operators.local",)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _dbt_task_group(group_id: str, as_of: str, project):
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from ingest.paths import warehouse_path
    from pipeline.dbt import AS_OF_ENV, PROJECT_DIR, SCHEDULED_BUILD_FLAGS, dbt_executable

    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=ProfileConfig(
            profile_name="cs_profit_center", target_name="duckdb", profiles_yml_filepath=PROJECT_DIR / "profiles.yml"
        ),
        # AFTER_EACH, not NONE: with tests not rendered, the watcher's one `dbt build` gets `--resource-type model
        # --resource-type seed --resource-type snapshot`, which leaves out every data test (amount_is_known too).
        # The DAG emits one asset for the published marts, not one per model.
        # Exposures and the on-run-start hook have no task (by design: exposures build nothing, the one build runs
        # the hook, which dbt runs whatever the selection); rendered, cosmos warned of each at every parse.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
            exclude=["resource_type:exposure", "resource_type:operation"],
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,  # dbt in its own process: no DuckDB handle left in the worker
            dbt_executable_path=dbt_executable(),
            setup_operator_args={"pool": WRITER_POOL},  # only the producer (the one dbt process) writes
        ),
        operator_args={
            "install_deps": False,
            "env": {
                "WAREHOUSE_PATH": str(warehouse_path().resolve()),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                AS_OF_ENV: as_of,
            },
            "dbt_cmd_flags": SCHEDULED_BUILD_FLAGS,
            # Not reschedule mode: Airflow's scheduler raced those sensors (apache/airflow#71172: 7-14 of 49 model
            # tasks failed per run while dbt succeeded). Deferrable, should a result not be there yet: the task
            # waits in the triggerer, not in a worker slot.
            "poke_interval": 2,
            "deferrable": True,
        },
    )
    # Each model's task reads its result once the build has finished: the producer goes before the root models.
    # Sensors running beside the build waited in worker slots (poke), raced the scheduler (reschedule), or, under
    # dag.test(), which runs one task at a time, deferred before the build had started and waited forever.
    producer = next(t for t in group.get_roots() if t.task_id.endswith("dbt_producer_watcher"))
    for root in group.get_roots():
        if root is not producer:
            producer >> root
    return group
