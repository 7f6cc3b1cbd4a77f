"""Where things live: every path comes from the environment, with defaults under DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", "data"))


def warehouse_path() -> Path:
    return Path(os.environ.get("WAREHOUSE_PATH", data_dir() / "warehouse.duckdb"))


def landing_dir() -> Path:
    return Path(os.environ.get("LANDING_DIR", data_dir() / "landing"))


def endpoint_landing_dir(vendor: str, entity: str) -> Path:
    return landing_dir() / vendor / entity


def duckdb_memory_limit() -> str:
    """Every warehouse connection's DuckDB memory cap (DuckDB's default is 80% of RAM). Beyond it, DuckDB
    spills to disk; dbt's profile reads the same variable."""
    return os.environ.get("DUCKDB_MEMORY_LIMIT", "3GB")
