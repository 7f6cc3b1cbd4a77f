"""The one writer: merge landing files into raw_<vendor>.<entity>, record runs, advance watermarks.

Each endpoint's pending files load in ONE transaction, together with the bookkeeping
(ops.loaded_files, ops.extract_runs, ops.extract_state): a load killed at any point leaves
either everything or nothing, and files already recorded are never loaded twice.
Merge rule: per id, keep the version with the greatest updated time; a re-extracted identical
version changes nothing, so running the same interval twice gives the same raw tables.
Every row a load writes carries that load's `load_id` (increasing, one per load transaction): dbt's
incremental staging and the raw quality gate read only rows with a load_id above the last they saw.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import duckdb

from ingest.endpoints import Endpoint
from ingest.identity import record_or_refuse, write_mirror
from ingest.landing import keep_loaded_runs, prune_loaded, write_state
from ingest.sql import literal_list
from ingest.vendors import CLIENTS
from settings import duckdb_memory_limit, endpoint_landing_dir, warehouse_path

log = logging.getLogger(__name__)

OPS_DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SEQUENCE IF NOT EXISTS ops.load_id_seq;
CREATE TABLE IF NOT EXISTS ops.loaded_files (
    vendor VARCHAR, entity VARCHAR, file VARCHAR, run_id VARCHAR, rows BIGINT, loaded_at TIMESTAMPTZ,
    PRIMARY KEY (vendor, entity, file));
CREATE TABLE IF NOT EXISTS ops.extract_runs (
    run_id VARCHAR, vendor VARCHAR, endpoint VARCHAR, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
    full_refresh BOOLEAN, pages BIGINT, records BIGINT, rejected BIGINT, requests BIGINT, retries BIGINT,
    throttled BIGINT, duration_s DOUBLE, status VARCHAR, error VARCHAR, started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ, rows_merged BIGINT, loaded_at TIMESTAMPTZ, PRIMARY KEY (run_id, vendor, endpoint));
CREATE TABLE IF NOT EXISTS ops.extract_state (
    vendor VARCHAR, endpoint VARCHAR, watermark TIMESTAMPTZ, run_id VARCHAR, updated_at TIMESTAMPTZ,
    PRIMARY KEY (vendor, endpoint));
"""


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    path = path or warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Capped like dbt's DuckDB (default 80% of RAM): beyond it, a large merge spills to disk instead.
    con = duckdb.connect(str(path), config={"memory_limit": duckdb_memory_limit()})
    con.execute("SET preserve_insertion_order = false")  # raw tables are keyed, not ordered: faster bulk inserts
    con.execute(OPS_DDL)
    return con


def raw_table(ep: Endpoint) -> str:
    # vendor and entity come from the endpoint declarations (code), never from a vendor or a user: no quoting
    return f"raw_{ep.vendor}.{ep.entity}"


def ensure_raw(con: duckdb.DuckDBPyConnection, ep: Endpoint) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS raw_{ep.vendor}")
    # `record` is text, not DuckDB's JSON type: landing parsed every record already, and the JSON type would parse
    # it again on insert. zstd, not the automatic choice (which takes zstd only for strings over 4 KiB): our records
    # are shorter, and zstd writes them faster into less space (DECISIONLOG, Ingest).
    con.execute(f"""CREATE TABLE IF NOT EXISTS {raw_table(ep)} (
        id VARCHAR NOT NULL, updated_at TIMESTAMPTZ, extracted_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL,
        record VARCHAR NOT NULL USING COMPRESSION zstd, load_id BIGINT)""")


def loaded_files(con: duckdb.DuckDBPyConnection, ep: Endpoint) -> set[str]:
    """The landing files (and manifests) of this endpoint that committed loads recorded."""
    rows = con.execute(
        "SELECT file FROM ops.loaded_files WHERE vendor = ? AND entity = ?", [ep.vendor, ep.entity]
    ).fetchall()
    return {r[0] for r in rows}


def pending_manifests(con: duckdb.DuckDBPyConnection, ep: Endpoint) -> list[dict]:
    folder = endpoint_landing_dir(ep.vendor, ep.entity)
    done = loaded_files(con, ep)
    out = []
    for path in sorted(folder.glob("*.manifest.json")):
        if path.name not in done:
            out.append(dict(json.loads(path.read_text()), _manifest=path.name))
    return out


def load_endpoint(con: duckdb.DuckDBPyConnection, ep: Endpoint) -> dict:
    result = merge_pending(con, ep)
    # after the commit: only what ops.loaded_files holds can go (a rerun's lookback must not grow data/)
    prune_loaded(endpoint_landing_dir(ep.vendor, ep.entity), loaded_files(con, ep), keep_loaded_runs())
    return result


def merge_pending(con: duckdb.DuckDBPyConnection, ep: Endpoint) -> dict:
    manifests = pending_manifests(con, ep)
    if not manifests:
        return {"endpoint": ep.name, "manifests": 0, "rows_in": 0, "rows_merged": 0}
    folder = endpoint_landing_dir(ep.vendor, ep.entity)
    files = [str(folder / f) for m in manifests if m["status"] == "succeeded" for f in m["files"]]
    started = time.monotonic()
    table = raw_table(ep)
    con.execute("BEGIN TRANSACTION")
    try:
        # manifests from before identities were recorded carry none: they are this warehouse's own
        for identity in dict.fromkeys(m["source_identity"] for m in manifests if m.get("source_identity")):
            record_or_refuse(con, ep.vendor, identity)
        ensure_raw(con, ep)
        load_id = con.execute("SELECT nextval('ops.load_id_seq')").fetchall()[0][0]
        rows_in, merged = merge_files(con, table, files, load_id) if files else (0, 0)
        record_runs(con, ep, manifests, merged)
        watermark = advance_watermark(con, ep, manifests)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if watermark is not None:  # mirror for the extract side, only after the commit
        write_state(folder, {"watermark": watermark, "run_id": manifests[-1]["run_id"]})
    write_mirror(con)
    elapsed = time.monotonic() - started
    log.info("%s: merged %d of %d rows from %d files in %.2f s", ep.name, merged, rows_in, len(files), elapsed)
    return {
        "endpoint": ep.name,
        "manifests": len(manifests),
        "files": len(files),
        "rows_in": rows_in,
        "rows_merged": merged,
        "seconds": round(elapsed, 3),
    }


NEWEST_FIRST = "updated_at DESC NULLS LAST, extracted_at DESC"


def merge_files(con: duckdb.DuckDBPyConnection, table: str, files: list[str], load_id: int) -> tuple[int, int]:
    """Merge landing files into `table`: (rows in, after keeping each id's newest version; rows merged).
    The older versions of ids landed more than once (overlapping runs, repeated cursor pages) are found from the
    id columns alone and never written: deleting them after the insert touched every row group of a big table
    when two days' runs loaded together, where this costs a scan of the ids."""
    source = f"read_parquet({literal_list(files)}, filename = true, file_row_number = true)"
    # `record` is the vendor's JSON as text (landing's parser split it out of a valid page)
    select = f"""
        WITH older AS (
            SELECT filename, file_row_number FROM {source}
            WHERE id IN (SELECT id FROM {source} GROUP BY id HAVING count(*) > 1)
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY {NEWEST_FIRST}) > 1)
        SELECT id, updated_at, extracted_at, run_id, record, {int(load_id)}::BIGINT AS load_id
        FROM {source} ANTI JOIN older USING (filename, file_row_number)"""
    if not con.execute(f"SELECT EXISTS (FROM {table})").fetchall()[0][0]:  # nothing to merge with: one insert
        merged = con.execute(f"INSERT INTO {table} BY NAME {select}").fetchall()[0][0]
        return merged, merged
    con.execute(f"CREATE OR REPLACE TEMP TABLE _batch AS {select}")
    rows_in = con.execute("SELECT count(*) FROM _batch").fetchall()[0][0]
    # The table's rows the batch meets, found by id and version time alone: a join that read `record` read the JSON
    # of the whole table, where only the few with equal version times are compared, fetched by row id (row ids hold
    # within this transaction).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _met AS
        SELECT t.rowid AS row_id, b.id,
               b.updated_at > t.updated_at OR (t.updated_at IS NULL AND b.updated_at IS NOT NULL) AS newer,
               b.updated_at IS NOT DISTINCT FROM t.updated_at AS same_time
        FROM {table} t JOIN _batch b ON t.id = b.id""")
    # Older versions make way for newer ones; an identical re-extracted version changes nothing.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _replaced AS
        SELECT row_id FROM _met WHERE newer
        UNION ALL
        SELECT m.row_id FROM _met m JOIN {table} t ON t.rowid = m.row_id JOIN _batch b ON b.id = m.id
        WHERE m.same_time AND b.record <> t.record""")
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT row_id FROM _replaced)")
    inserted = con.execute(f"""
        INSERT INTO {table} BY NAME SELECT b.* FROM _batch b
        ANTI JOIN (SELECT id FROM _met ANTI JOIN _replaced USING (row_id)) AS kept USING (id)""")
    merged = inserted.fetchall()[0][0]
    con.execute("DROP TABLE _batch; DROP TABLE _met; DROP TABLE _replaced")
    return rows_in, merged


def record_runs(con: duckdb.DuckDBPyConnection, ep: Endpoint, manifests: list[dict], merged: int) -> None:
    for m in manifests:
        con.execute(
            """INSERT OR REPLACE INTO ops.extract_runs VALUES
            (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())""",
            [
                m["run_id"],
                ep.vendor,
                ep.entity,
                m.get("since"),
                m.get("until"),
                m.get("full_refresh"),
                m["pages"],
                m["records"],
                m["rejected"],
                m["requests"],
                m["retries"],
                m["throttled"],
                m["duration_s"],
                m["status"],
                m["error"],
                m["started_at"],
                m["finished_at"],
                merged if m["status"] == "succeeded" else 0,
            ],
        )
        rows = [(ep.vendor, ep.entity, f, m["run_id"]) for f in (*m["files"], m["_manifest"])]
        con.executemany("INSERT INTO ops.loaded_files VALUES (?, ?, ?, ?, NULL, now())", rows)


def advance_watermark(con: duckdb.DuckDBPyConnection, ep: Endpoint, manifests: list[dict]) -> str | None:
    """The watermark moves forward only: to the newest version loaded by a succeeded incremental run."""
    marks = [m["max_version"] for m in manifests if m["status"] == "succeeded" and m.get("max_version")]
    if ep.incremental and marks:
        con.execute(
            """
            INSERT INTO ops.extract_state VALUES (?, ?, ?::TIMESTAMPTZ, ?, now())
            ON CONFLICT (vendor, endpoint) DO UPDATE SET
                watermark = greatest(extract_state.watermark, excluded.watermark),
                run_id = excluded.run_id, updated_at = excluded.updated_at""",
            [ep.vendor, ep.entity, max(marks), manifests[-1]["run_id"]],
        )
    row = con.execute(
        "SELECT strftime(watermark AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00') "
        "FROM ops.extract_state WHERE vendor = ? AND endpoint = ?",
        [ep.vendor, ep.entity],
    ).fetchall()
    return row[0][0] if row else None


def load_vendor(vendor: str, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    own = con is None
    con = con or connect()
    try:
        return [load_endpoint(con, ep) for ep in CLIENTS[vendor].endpoints]
    finally:
        if own:
            con.close()


def load_all_vendors(con: duckdb.DuckDBPyConnection | None = None) -> dict[str, list[dict]]:
    """Every vendor's pending landing files, one vendor after the other (the single writer)."""
    own = con is None
    con = con or connect()
    try:
        return {vendor: load_vendor(vendor, con) for vendor in CLIENTS}
    finally:
        if own:
            con.close()
