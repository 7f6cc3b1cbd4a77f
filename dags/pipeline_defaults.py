"""Shared DAG settings, in one place: schedules, retries, the single-writer pool, alerts and the
assets that chain the DAGs. Imports nothing heavy (DAG files must parse in well under a second)."""

from __future__ import annotations

import os
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


def schedule_for(vendor: str) -> str:
    return os.environ.get(f"SCHEDULE_{vendor.upper()}", VENDOR_SCHEDULES[vendor])


def freshness_hours() -> dict[str, float]:
    return {v: float(os.environ.get(f"FRESHNESS_{v.upper()}_HOURS", h)) for v, h in FRESHNESS_HOURS.items()}


def conf_as_of(conf: dict | None) -> str:
    """`dag_run.conf["as_of"]` as a canonical UTC instant ('' = now), or a clear error naming the parameter:
    DAG templates call it (user_defined_macros), so crafted text never reaches dbt's SQL."""
    from ingest.parse import instant_text

    value = (conf or {}).get("as_of")
    return instant_text(value, 'dag_run.conf["as_of"]') if value else ""


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
    from pipeline.dbt import AS_OF_ENV, MANIFEST, PROJECT_DIR, SCHEDULED_BUILD_FLAGS, dbt_executable

    if not MANIFEST.exists():
        return None
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from ingest.paths import warehouse_path

    project = ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False)
    # A plain local Path, not cosmos' ObjectStoragePath: reading through the latter reports lineage, which loads
    # every Airflow plugin (cosmos' own imports FastAPI), 0.6 s added to every parse of this DAG file.
    project.manifest_path = MANIFEST
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=ProfileConfig(
            profile_name="cs_profit_center", target_name="duckdb", profiles_yml_filepath=PROJECT_DIR / "profiles.yml"
        ),
        # AFTER_EACH, not NONE: with tests not rendered, the watcher's one `dbt build` gets `--resource-type model
        # --resource-type seed --resource-type snapshot`, which leaves out every data test (amount_is_known too).
        # The DAG emits one asset for the published marts, not one per model.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH, emit_datasets=False
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
            "mode": "reschedule",  # model tasks free their worker slot between pokes (and dag.test() can run)
            "poke_interval": 2,
            "deferrable": False,
        },
    )
