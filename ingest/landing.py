"""Landing files: what an extract run fetched, untouched, as Parquet; written atomically.

Per endpoint folder `landing/<vendor>/<entity>/`:
  <run_id>-<n>.parquet             accepted records: id, updated_at, extracted_at, run_id, record (raw JSON)
  rejected/<run_id>-<n>.parquet    quarantined records with the reason
  <run_id>.manifest.json           written last: the run's summary; the loader only trusts files it lists
  _state.json                      the loaded watermark, mirrored by the loader (extracts never open the warehouse)
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")
ACCEPTED = pa.schema(
    [("id", pa.string()), ("updated_at", TS), ("extracted_at", TS), ("run_id", pa.string()), ("record", pa.string())]
)
REJECTED = pa.schema(
    [
        ("id", pa.string()),
        ("reason", pa.string()),
        ("extracted_at", TS),
        ("run_id", pa.string()),
        ("record", pa.string()),
    ]
)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


class LandingBatch:
    """Buffers one endpoint's records of one run and flushes them in parts of `part_rows`."""

    def __init__(self, folder: Path, run_id: str, part_rows: int = 100_000):
        self.folder = folder
        self.run_id = run_id
        self.part_rows = part_rows
        self.accepted: dict[str, list] = {n: [] for n in ACCEPTED.names}
        self.rejected: dict[str, list] = {n: [] for n in REJECTED.names}
        self.files: list[str] = []
        self.rejected_files: list[str] = []
        self.n_accepted = self.n_rejected = 0

    def accept(self, key: str, version: datetime | None, extracted: datetime, record_json: str) -> None:
        a = self.accepted
        a["id"].append(key)
        a["updated_at"].append(version)
        a["extracted_at"].append(extracted)
        a["run_id"].append(self.run_id)
        a["record"].append(record_json)
        self.n_accepted += 1
        if len(a["id"]) >= self.part_rows:
            self.flush()

    def reject(self, key: str | None, reason: str, extracted: datetime, record_json: str) -> None:
        r = self.rejected
        r["id"].append(key)
        r["reason"].append(reason)
        r["extracted_at"].append(extracted)
        r["run_id"].append(self.run_id)
        r["record"].append(record_json)
        self.n_rejected += 1

    def flush(self) -> None:
        if self.accepted["id"]:
            name = f"{self.run_id}-{len(self.files):04d}.parquet"
            atomic_write_parquet(self.folder / name, pa.table(self.accepted, schema=ACCEPTED))
            self.files.append(name)
            self.accepted = {n: [] for n in ACCEPTED.names}
        if self.rejected["id"]:
            name = f"rejected/{self.run_id}-{len(self.rejected_files):04d}.parquet"
            atomic_write_parquet(self.folder / name, pa.table(self.rejected, schema=REJECTED))
            self.rejected_files.append(name)
            self.rejected = {n: [] for n in REJECTED.names}


def write_manifest(folder: Path, run_id: str, manifest: dict) -> Path:
    path = folder / f"{run_id}.manifest.json"
    atomic_write_bytes(path, json.dumps(manifest, indent=1, sort_keys=True, default=str).encode())
    return path


def read_state(folder: Path) -> dict:
    path = folder / "_state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(folder: Path, state: dict) -> None:
    atomic_write_bytes(folder / "_state.json", json.dumps(state, sort_keys=True, default=str).encode())
