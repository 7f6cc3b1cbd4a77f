"""Landing files: what an extract run fetched, untouched, as Parquet; written atomically.

Per endpoint folder `landing/<vendor>/<entity>/`:
  <run_id>-<n>.parquet             accepted records: id, updated_at, extracted_at, run_id, record (JSON text)
  rejected/<run_id>-<n>.parquet    quarantined records with the reason
  <run_id>.manifest.json           written last: the run's summary; the loader only trusts files it lists
  _state.json                      the loaded watermark, mirrored by the loader (extracts never open the warehouse)

Retention: once loaded, a run's files are kept only while the run is among its endpoint's newest
LANDING_KEEP_LOADED_RUNS loaded runs (default 1: what the vendor last sent, for inspection); the warehouse
holds the rest (and ops.extract_runs their summaries). Files of a run not yet loaded are never removed.
"""

from __future__ import annotations

import json
import os
import re
import threading
from array import array
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

import settings
from ingest.client import Page
from ingest.endpoints import Endpoint, validation_sql
from ingest.sql import literal

if TYPE_CHECKING:
    import pyarrow as pa

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_engine: duckdb.DuckDBPyConnection | None = None
_engine_lock = threading.Lock()


def landing_connection() -> duckdb.DuckDBPyConnection:
    """A connection of its own (temp tables and registrations are per connection) to the process's one in-memory
    DuckDB: never the warehouse; starting and tearing down a database per endpoint cost more than its work."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = duckdb.connect()
        con = _engine.cursor()
    con.execute("SET TimeZone = 'UTC'")  # offset-less vendor timestamps are UTC
    return con


def records_table(records: list, micros: array) -> pa.Table:
    """(record, extracted_at) as Arrow, built on the records' bytes (buffer views into the page bodies): no
    per-record decoding or conversion (the HTTP layer checked every body to be UTF-8 JSON)."""
    import pyarrow as pa  # here, not at the top: the loader imports this module and never builds a batch

    offsets = array("q", accumulate(map(len, records), initial=0))
    text = pa.LargeStringArray.from_buffers(len(records), pa.py_buffer(offsets), pa.py_buffer(b"".join(records)))
    extracted = pa.Array.from_buffers(pa.timestamp("us", tz="UTC"), len(records), [None, pa.py_buffer(micros)])
    return pa.Table.from_arrays([text, extracted], names=["record", "extracted_at"])


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}")


class InvalidRunId(ValueError):
    """A run id that could name a file outside its landing folder (or is not a plain name)."""


def check_run_id(run_id: str) -> str:
    """A run id names landing files (`<run_id>-<n>.parquet`, `<run_id>.manifest.json`): letters, digits and
    _ . : + - only, no `..`, so no run id can write outside its endpoint's landing folder."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        shown = repr(run_id) if len(run_id) <= 40 else repr(run_id[:37] + "...")
        raise InvalidRunId(
            f"run id must be 1-100 letters, digits or _ . : + - (starting with a letter or digit, no '..'), got {shown}"
        )
    return run_id


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class LandingBatch:
    """One endpoint's pages of one run. Flushing validates the records (as the vendor sent them)
    in one set-based pass (an in-memory DuckDB, never the warehouse); parts of `part_records`."""

    def __init__(self, ep: Endpoint, folder: Path, run_id: str, part_records: int = 100_000):
        self.ep = ep
        self.folder = folder
        self.run_id = check_run_id(run_id)
        self.part_records = part_records
        self.records: list = []  # msgspec.Raw per record
        self.micros = array("q")  # each record's extraction time, microseconds since the epoch
        self.files: list[str] = []
        self.rejected_files: list[str] = []
        self.n_accepted = self.n_rejected = 0
        self.newest: datetime | None = None
        self.con = landing_connection()

    def add(self, page: Page, extracted: datetime) -> None:
        self.records += page.records
        self.micros += array("q", [(extracted - EPOCH) // timedelta(microseconds=1)]) * len(page.records)
        if len(self.records) >= self.part_records:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        self.con.register("_records", records_table(self.records, self.micros))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {validation_sql(self.ep, '_records')}")
        accepted, rejected, newest = self.con.execute(
            "SELECT count(*) FILTER (WHERE problem IS NULL), count(*) FILTER (WHERE problem IS NOT NULL), "
            "max(updated_at) FILTER (WHERE problem IS NULL) FROM _checked"
        ).fetchall()[0]
        run = literal(self.run_id)
        if accepted:
            name = f"{self.run_id}-{len(self.files):04d}.parquet"
            self._copy(
                f"SELECT id, updated_at, extracted_at, {run} AS run_id, record FROM _checked WHERE problem IS NULL",
                name,
            )
            self.files.append(name)
        if rejected:
            name = f"rejected/{self.run_id}-{len(self.rejected_files):04d}.parquet"
            self._copy(
                f"SELECT id, problem AS reason, extracted_at, {run} AS run_id, record FROM _checked "
                "WHERE problem IS NOT NULL",
                name,
            )
            self.rejected_files.append(name)
        self.n_accepted += accepted
        self.n_rejected += rejected
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
        self.con.unregister("_records")
        self.con.execute("DROP TABLE _checked")
        self.records, self.micros = [], array("q")

    def _copy(self, query: str, name: str) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        # zstd level 1: as small as the default level for JSON text, and cheaper to write.
        self.con.execute(f"COPY ({query}) TO {literal(tmp)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")
        os.replace(tmp, path)  # readers never see a half-written file

    def close(self) -> None:
        self.con.close()


def write_manifest(folder: Path, run_id: str, manifest: dict) -> Path:
    path = folder / f"{check_run_id(run_id)}.manifest.json"
    atomic_write_bytes(path, json.dumps(manifest, indent=1, sort_keys=True, default=str).encode())
    return path


def read_state(folder: Path) -> dict:
    path = folder / "_state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(folder: Path, state: dict) -> None:
    atomic_write_bytes(folder / "_state.json", json.dumps(state, sort_keys=True, default=str).encode())


def keep_loaded_runs() -> int:
    return settings.landing_keep_loaded_runs()


def prune_loaded(folder: Path, loaded: set[str], keep: int) -> list[str]:
    """Remove the files of loaded runs beyond the newest `keep` loaded runs of this endpoint folder; returns the
    removed names. A run counts as loaded when its manifest is in `loaded` (the names ops.loaded_files recorded
    in a committed load); only the files that manifest names go, and of those only the ones `loaded` holds or
    its quarantine (rejected/); the manifest goes last, so a prune cut short leaves a manifest that still says
    what was there. An unloaded run's files are never touched: its manifest is not in `loaded`."""
    runs = []
    for path in folder.glob("*.manifest.json"):
        if path.name in loaded:
            manifest = json.loads(path.read_text())
            runs.append((str(manifest.get("started_at") or ""), path.name, manifest))
    runs.sort(reverse=True)  # newest first (ISO instants in UTC sort as text; the name breaks ties)
    removed: list[str] = []
    for _, name, manifest in runs[keep:]:
        files = [f for f in manifest.get("files", []) if f in loaded]
        files += [f for f in manifest.get("rejected_files", []) if f.startswith("rejected/")]
        for file in [*files, name]:
            try:
                (folder / file).unlink()
            except FileNotFoundError:
                continue
            removed.append(file)
    return removed
