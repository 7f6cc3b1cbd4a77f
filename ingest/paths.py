"""Where things live: every path comes from the environment, with defaults under DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", "data"))


def warehouse_path() -> Path:
    return Path(os.environ.get("WAREHOUSE_PATH", data_dir() / "warehouse.duckdb"))


PUBLISHED_DB_NAME = "marts.duckdb"


def published_dir() -> Path:
    """What BI reads: the published marts file, its Parquet copies, the report, the health page, the dbt docs."""
    return Path(os.environ.get("PUBLISHED_DIR", data_dir() / "published"))


def published_db_path(out_dir: Path | None = None) -> Path:
    return Path(out_dir or published_dir()) / PUBLISHED_DB_NAME


def landing_dir() -> Path:
    return Path(os.environ.get("LANDING_DIR", data_dir() / "landing"))


def endpoint_landing_dir(vendor: str, entity: str) -> Path:
    return landing_dir() / vendor / entity


def duckdb_memory_limit() -> str:
    """Every warehouse connection's DuckDB memory cap (DuckDB's default is 80% of RAM). Beyond it, DuckDB
    spills to disk; dbt's profile reads the same variable."""
    return os.environ.get("DUCKDB_MEMORY_LIMIT", "3GB")
