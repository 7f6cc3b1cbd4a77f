"""Which sources a warehouse holds, so that two worlds never mix in one data folder.

A source's identity is where its records come from, never a secret: a vendor connection's scheme, host
and port plus its account (login, or `extra.account` where every customer shares the host), or the
connection's `extra.source_identity` when it names its source itself (the sandbox does: its emulators
listen on a new port each run, and it names its scale and seed); the finance inputs' folder.

The first load of a source records its identity in `ops.source_identity`, in the load's transaction;
a load from another identity is refused before it writes anything. Extracts never open the warehouse,
so the loader mirrors the table to `<warehouse>.sources.json` after its commit (as it mirrors
watermarks), and an extract from another identity is refused before it reads a watermark or a page.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from ingest.connections import Connection
from ingest.errors import PermanentError
from settings import data_dir, warehouse_path

FINANCE = "finance"  # the source name of the finance input files

DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.source_identity (
    source VARCHAR PRIMARY KEY, identity VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
"""


class SourceMismatch(PermanentError):
    """The warehouse holds records of one source identity and was asked to take another's: retrying cannot
    help, someone must pick another DATA_DIR or reset this one."""


def connection_identity(conn: Connection) -> str:
    """The account a connection reads, as text without its secret."""
    named = conn.extra.get("source_identity")
    if named:
        return str(named)
    url = urlsplit(conn.host)
    address = f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")
    account = conn.extra.get("account") or conn.login
    return f"{address} account {account}" if account else address


def finance_identity(folder: str | os.PathLike[str]) -> str:
    return f"finance inputs folder {Path(folder).resolve()}"


def database_file(con: duckdb.DuckDBPyConnection | None = None) -> Path | None:
    """The warehouse file a connection writes (None in memory); without one, the configured warehouse."""
    if con is None:
        return warehouse_path()
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return Path(path[0][0]) if path and path[0][0] else None


def mirror_path(con: duckdb.DuckDBPyConnection | None = None) -> Path | None:
    warehouse = database_file(con)
    return warehouse.with_name(warehouse.name + ".sources.json") if warehouse else None


def mismatch(source: str, held: str, incoming: str, action: str, warehouse: Path | None) -> SourceMismatch:
    return SourceMismatch(
        f"{source}: the warehouse {warehouse} holds records of {held!r}; refusing to {action} {incoming!r}, "
        f"which would mix two sources in one warehouse. Use another DATA_DIR for this source, or reset this "
        f"one with `make clean DATA_DIR={data_dir()}` (deletes its warehouse, landing and published files)."
    )


def check_before_extract(source: str, identity: str) -> None:
    """Refuse early, from the loader's mirror (no warehouse lock): an extract of another source would start
    from this warehouse's watermarks and land records the load then refuses."""
    path = mirror_path()
    held = json.loads(path.read_text()).get(source) if path.exists() else None
    if held is not None and held != identity:
        raise mismatch(source, held, identity, "extract", warehouse_path())


def holds_rows(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """The source's raw schema (raw_<source>) holds rows."""
    sql = "SELECT coalesce(sum(estimated_size), 0) > 0 FROM duckdb_tables() WHERE schema_name = ?"
    return con.execute(sql, [f"raw_{source}"]).fetchall()[0][0]


def record_or_refuse(con: duckdb.DuckDBPyConnection, source: str, identity: str) -> None:
    """Inside the load's transaction: record a first identity, refuse a different one. Rows loaded before
    identities were recorded (an older version of this pipeline) have no known source: they are not adopted
    silently, since a demo's warehouse would then take a real company's records (`adopt-sources` says so)."""
    con.execute(DDL)
    row = con.execute("SELECT identity FROM ops.source_identity WHERE source = ?", [source]).fetchall()
    if row and row[0][0] != identity:
        raise mismatch(source, row[0][0], identity, "load", database_file(con))
    if not row and holds_rows(con, source):
        raise SourceMismatch(
            f"{source}: the warehouse {database_file(con)} holds {source} records loaded before sources were recorded, "
            f"so whether they come from {identity!r} is unknown. If they do, record that with "
            f"`python -m ingest adopt-sources`; if not, use another DATA_DIR, or reset this one with "
            f"`make clean DATA_DIR={data_dir()}` (deletes its warehouse, landing and published files)."
        )
    if not row:
        con.execute("INSERT INTO ops.source_identity VALUES (?, ?, ?)", [source, identity, datetime.now(UTC)])


def adopt(con: duckdb.DuckDBPyConnection, identities: dict[str, str]) -> dict[str, str]:
    """Record these identities for the sources that have none (a warehouse from before identities were
    recorded, whose owner says where its records came from); returns what it recorded."""
    con.execute(DDL)
    held = dict(con.execute("SELECT source, identity FROM ops.source_identity").fetchall())
    new = {source: identity for source, identity in identities.items() if source not in held}
    for source, identity in new.items():
        con.execute("INSERT INTO ops.source_identity VALUES (?, ?, ?)", [source, identity, datetime.now(UTC)])
    write_mirror(con)
    return new


def write_mirror(con: duckdb.DuckDBPyConnection) -> None:
    """After a commit: the recorded identities, for extracts (a lost mirror only delays the refusal to the load)."""
    from ingest.landing import atomic_write_bytes

    con.execute(DDL)
    held = dict(con.execute("SELECT source, identity FROM ops.source_identity ORDER BY source").fetchall())
    path = mirror_path(con)  # beside the file this connection writes (none for a warehouse in memory)
    if path is not None:
        atomic_write_bytes(path, json.dumps(held, indent=1, sort_keys=True).encode())
