"""Every setting that comes from outside the code, in one place: paths, environment variables and the dbt
project's vars. Read at call time (tests and the demo point DATA_DIR elsewhere per run). Imports nothing of
the project, so `ingest`, `expectations`, `pipeline` and the DAG files all read it without importing one
another; it imports nothing heavy either (DAG files read it at every parse).

The vendor connections are the exception: `AIRFLOW_CONN_<VENDOR>` is Airflow's own convention, read by
`ingest.connections`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DBT_PROJECT_DIR = ROOT / "dbt_project"
# `dbt parse` writes it at install (`make install`, the image, CI); the transform DAG renders its tasks from it
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_AS_OF_ENV = "DBT_AS_OF"  # the macro as_of() reads it (a var would make dbt re-parse the project)
FINANCE_INPUTS_ENV = "FINANCE_INPUTS_DIR"


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


# --- paths: every generated file lives under DATA_DIR unless a variable moves it ------------------------------


def data_dir() -> Path:
    return Path(env("DATA_DIR", "data"))


def warehouse_path() -> Path:
    return Path(env("WAREHOUSE_PATH", str(data_dir() / "warehouse.duckdb")))


def landing_dir() -> Path:
    return Path(env("LANDING_DIR", str(data_dir() / "landing")))


def endpoint_landing_dir(vendor: str, entity: str) -> Path:
    return landing_dir() / vendor / entity


PUBLISHED_DB_NAME = "marts.duckdb"


def published_dir() -> Path:
    """What BI reads: the published marts file, its Parquet copies, the report, the health page, the dbt docs."""
    return Path(env("PUBLISHED_DIR", str(data_dir() / "published")))


def published_db_path(out_dir: Path | None = None) -> Path:
    return Path(out_dir or published_dir()) / PUBLISHED_DB_NAME


def landing_keep_loaded_runs() -> int:
    """How many loaded runs per endpoint keep their landing files (LANDING_KEEP_LOADED_RUNS, default 1)."""
    return max(0, int(env("LANDING_KEEP_LOADED_RUNS", "1")))


def exports_dir() -> Path:
    return Path(env("EXPORTS_DIR", str(data_dir() / "exports")))


def alerts_dir() -> Path:
    return data_dir() / "alerts"


def finance_inputs_value() -> str:
    """FINANCE_INPUTS_DIR as set ('' when not): `ingest.finance` says what a missing one means."""
    return env(FINANCE_INPUTS_ENV, "").strip()


# --- DuckDB and dbt ------------------------------------------------------------------------------------------


def duckdb_memory_limit() -> str:
    """Every warehouse connection's DuckDB memory cap (DuckDB's default is 80% of RAM); beyond it DuckDB spills
    to disk. dbt's profile gets the same value through `dbt_env_vars`."""
    return env("DUCKDB_MEMORY_LIMIT", "3GB")


def shopify_bulk_memory_limit() -> str:
    """The Shopify bulk reassembly's own DuckDB cap (`ingest.shopify.graphql.reassemble`, never above the
    warehouse's): the extract process holds more than its DuckDB: the landing engine, the other vendors' threads
    and the record batches, so the reassembly takes part of the process's budget, not all of it (DECISIONLOG.md,
    Speed: the large extract's peak memory)."""
    return env("SHOPIFY_BULK_MEMORY_LIMIT", "2GB")


def dbt_env_vars() -> dict[str, str]:
    """What every dbt process needs from us (profiles.yml reads these, with no defaults of its own)."""
    return {
        "WAREHOUSE_PATH": str(warehouse_path().resolve()),
        "DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }


@cache
def project_vars() -> dict:
    """The business-rule settings as dbt_project.yml declares them (for Python steps that need them)."""
    import yaml

    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def publish_dbt_docs() -> bool:
    """PUBLISH_DBT_DOCS=false skips the dbt docs site at publish (tests that only check the marts' files)."""
    return env("PUBLISH_DBT_DOCS", "true").strip().lower() not in {"0", "false", "no"}


# --- HTTP -----------------------------------------------------------------------------------------------------


def http_max_tries(default: int) -> int:
    """HTTP_MAX_TRIES bounds the tries of one request (tests make an outage outlast them in a second)."""
    return int(env("HTTP_MAX_TRIES", str(default)))


def http_read_timeout_s() -> float:
    """HTTP_READ_TIMEOUT_S: the read timeout, for slow vendors (or tests)."""
    return float(env("HTTP_READ_TIMEOUT_S", "30"))


def alert_webhook_url() -> str | None:
    return os.environ.get("ALERT_WEBHOOK_URL") or None


# --- the DAGs -------------------------------------------------------------------------------------------------


def start_date() -> datetime:
    return datetime.fromisoformat(env("PIPELINE_START_DATE", "2026-01-01")).replace(tzinfo=UTC)


def close_day_of_month() -> int:
    """The month-end close's day: dbt's var `close_day_of_month` (its finality dates), or CLOSE_DAY_OF_MONTH."""
    return int(env("CLOSE_DAY_OF_MONTH", str(project_vars()["close_day_of_month"])))


def finance_check_schedule() -> str:
    return env("SCHEDULE_FINANCE", "*/15 * * * *")


def vendor_schedule(vendor: str, default: str) -> str:
    return env(f"SCHEDULE_{vendor.upper()}", default)


def freshness_hours(vendor: str, default: float) -> float:
    return float(env(f"FRESHNESS_{vendor.upper()}_HOURS", str(default)))


def network_retries() -> int:
    return int(env("NETWORK_RETRIES", "3"))


def network_retry_delay() -> timedelta:
    return timedelta(seconds=int(env("NETWORK_RETRY_DELAY_SECONDS", "60")))
