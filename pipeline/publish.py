"""Publish the marts for BI: one DuckDB file readable by DuckDB 1.5, Parquet copies, a manifest and the report.

    python -m pipeline.publish [--warehouse PATH] [--out-dir PATH]

Runs after `dbt build` (and the data-quality gates) in the single-writer pool. Everything is written
to temporary files in the destination folders first; only when every file is complete (and the
DuckDB file's header proves storage v1.5.0) are they moved into place with `os.replace`, the manifest
last. A reader holding the old `marts.duckdb` open keeps the old inode on Linux: it never sees a
half-written file and never blocks the publish (the publish never opens the published path). DuckDB
hands every new connection in a process the database instance another open connection of that process
already holds, so a process sees a new version only once all its connections to the file are closed;
the `publication` table in the file says which version a connection reads.
On any failure the temporary files are removed and the previous published files stay as they were.
When the marts are exactly what is already published (no new source data, the same rules, the same report
code), nothing is written: the published version, and its `published_at`, stay as they are.

Paths: `PUBLISHED_DIR` (default `$DATA_DIR/published`), the warehouse from `WAREHOUSE_PATH`/`DATA_DIR`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.errors import ExpectedError, run_cli
from ingest.sql import identifier as quote_ident
from ingest.sql import literal as quote_str
from pipeline import dbt_docs, health
from pipeline import report as report_html
from settings import PUBLISHED_DB_NAME as DB_NAME
from settings import published_db_path, published_dir, warehouse_path  # noqa: F401 (callers import them here)

MARTS_SCHEMA = "marts"
MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.html"
HEALTH_NAME = "health.html"  # pipeline health for data engineers (pipeline/health.py)
# BI tools bundle DuckDB 1.5: the file must be written in its storage format, not 2.0's.
BI_STORAGE_VERSION = "v1.5.0"
# What DuckDB 1.5.x reads (src/storage/version_map.json): storage versions 64..68, serialization <= 7.
MAX_STORAGE_NUMBER = 68
MAX_SERIALIZATION_NUMBER = 7
TMP_MARK = ".publish-tmp-"
# The version table dbt builds (marts.publication, one row): publishing stamps its published_at.
PUBLICATION = "publication"
PARQUET_BATCH_ROWS = 100_000


class PublishFailed(RuntimeError, ExpectedError):
    """The staged files did not meet the publishing contract (nothing was replaced)."""


def storage_header(path: Path) -> dict:
    """The storage and serialization version numbers in a DuckDB file's headers (what an older reader checks).

    Layout: main header at 0 (checksum, b"DUCK", version number, flags, library version); two database
    headers at 4096 and 8192 (checksum, iteration, ..., serialization compatibility at +56), the one with
    the higher iteration being current.
    """
    with open(path, "rb") as f:
        raw = f.read(3 * 4096)
    if raw[8:12] != b"DUCK":
        raise PublishFailed(f"{path.name} is not a DuckDB file")
    (storage_number,) = struct.unpack_from("<Q", raw, 12)
    library = raw[52:84].split(b"\0", 1)[0].decode("ascii", "replace")
    headers = [struct.unpack_from("<QQQQQQQQ", raw, offset) for offset in (4096, 8192)]
    current = max(headers, key=lambda h: h[1])
    return {"storage_number": storage_number, "serialization_number": current[7], "written_by": library}


def check_readable_by_duckdb_15(path: Path) -> dict:
    header = storage_header(path)
    if header["storage_number"] > MAX_STORAGE_NUMBER or header["serialization_number"] > MAX_SERIALIZATION_NUMBER:
        raise PublishFailed(f"{path.name} is not in storage {BI_STORAGE_VERSION} format: {header}")
    return header


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table (and view, materialised) in the warehouse's marts schema: new marts publish with no change here."""
    rows = con.execute(
        """
        SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = ?
        UNION
        SELECT view_name FROM duckdb_views() WHERE database_name = 'wh' AND schema_name = ?
        ORDER BY 1
        """,
        [MARTS_SCHEMA, MARTS_SCHEMA],
    ).fetchall()
    return [name for (name,) in rows]


def copy_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Copy one mart into the staged file with its contract (types, so DECIMAL money, and NOT NULL, which dbt's
    enforced contract put on the warehouse table) and its dbt descriptions."""
    target = f"pub.main.{quote_ident(name)}"
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
        "WHERE database_name = 'wh' AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [MARTS_SCHEMA, name],
    ).fetchall()
    ddl = ", ".join(f"{quote_ident(c)} {kind}{'' if nullable else ' NOT NULL'}" for c, kind, nullable in columns)
    con.execute(f"CREATE TABLE {target} ({ddl})")  # one pass: the rows are checked as they are inserted
    con.execute(f"INSERT INTO {target} SELECT * FROM wh.{MARTS_SCHEMA}.{quote_ident(name)}")
    comments = con.execute(
        """
        SELECT comment FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = ? AND table_name = ?
        UNION ALL
        SELECT comment FROM duckdb_views() WHERE database_name = 'wh' AND schema_name = ? AND view_name = ?
        """,
        [MARTS_SCHEMA, name, MARTS_SCHEMA, name],
    ).fetchall()
    if comments and comments[0][0]:
        con.execute(f"COMMENT ON TABLE {target} IS {quote_str(comments[0][0])}")
    columns = con.execute(
        "SELECT column_name, comment FROM duckdb_columns() "
        "WHERE database_name = 'wh' AND schema_name = ? AND table_name = ? AND comment IS NOT NULL",
        [MARTS_SCHEMA, name],
    ).fetchall()
    for column, comment in columns:
        con.execute(f"COMMENT ON COLUMN {target}.{quote_ident(column)} IS {quote_str(comment)}")


def contract_schema(con: duckdb.DuckDBPyConnection, name: str, arrow: pa.Schema) -> pa.Schema:
    """The Parquet schema of a staged mart: Arrow's types for its DuckDB types, nullability from the table's
    contract (NOT NULL) rather than from the rows, so an empty or a null-free table keeps its schema, and
    instants always in UTC whatever the machine's zone."""
    nullable = dict(
        con.execute(
            "SELECT column_name, is_nullable FROM duckdb_columns() "
            "WHERE database_name = 'pub' AND schema_name = 'main' AND table_name = ?",
            [name],
        ).fetchall()
    )
    fields = []
    for field in arrow:
        kind = pa.timestamp(field.type.unit, tz="UTC") if pa.types.is_timestamp(field.type) else field.type
        fields.append(pa.field(field.name, kind, nullable=nullable[field.name]))
    return pa.schema(fields)


def write_parquet(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """One staged mart to Parquet under its contract's schema, streamed in batches (a mart may not fit in memory)."""
    relation = con.sql(f"SELECT * FROM pub.main.{quote_ident(name)}")
    schema = contract_schema(con, name, relation.limit(0).to_arrow_table().schema)  # before the reader holds con
    reader = relation.to_arrow_reader(PARQUET_BATCH_ROWS)
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))


def stamp_publication(con: duckdb.DuckDBPyConnection, published_at: datetime) -> dict:
    """Set published_at in the staged version table; returns its row (what the manifest repeats)."""
    con.execute(f"UPDATE pub.main.{PUBLICATION} SET published_at = ?", [published_at])
    cur = con.execute(f"SELECT * FROM pub.main.{PUBLICATION}")
    columns = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if len(rows) != 1:
        raise PublishFailed(f"marts.{PUBLICATION} must hold one row, it holds {len(rows)}")
    return {c: v.isoformat() if isinstance(v, datetime) else v for c, v in zip(columns, rows[0], strict=True)}


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_stale_temps(out: Path) -> None:
    """Temp files of a publish that was killed (its process is gone); a live one's are left alone."""
    temps = [*out.glob(f"*{TMP_MARK}*"), *(out / "parquet").glob(f"*{TMP_MARK}*")]
    for path in [*temps, *(out / dbt_docs.DOCS_DIR).glob(f"*{TMP_MARK}*")]:
        pid = path.name.split(TMP_MARK, 1)[1].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            remove_quietly(path)
        except PermissionError:
            pass  # another user's live process


def fsync(path: Path) -> None:
    """Flush a file (or a folder entry) to disk: after a power cut a rename must not name missing data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(pairs: list[tuple[Path, Path]], token: str) -> None:
    """Rename each staged file over its published name. Renames only, so nothing here waits for data; if one
    fails anyway (disk, permissions), the ones already done are put back from hard-linked copies."""
    for staged, _ in pairs:
        fsync(staged)
    done: list[tuple[Path, Path | None]] = []
    try:
        for staged, final in pairs:
            backup = final.with_name(final.name + token + ".old") if final.exists() else None
            if backup is not None:
                os.link(final, backup)
            done.append((final, backup))
            os.replace(staged, final)
    except BaseException:
        for final, backup in reversed(done):
            if backup is not None:
                os.replace(backup, final)
            else:
                remove_quietly(final)
        raise
    finally:
        for _, backup in done:
            if backup is not None:
                remove_quietly(backup)
    for folder in {final.parent for _, final in pairs}:
        fsync(folder)


def stage(
    warehouse: Path, out: Path, token: str, staged: list[Path], timings: dict, published_at: datetime
) -> tuple[Path, dict[str, int], dict]:
    """Write the DuckDB file and the Parquet copies under temp names; returns the staged DB, row counts and
    the version row."""
    tmp_db = out / (DB_NAME + token)
    staged += [tmp_db, tmp_db.with_name(tmp_db.name + ".wal")]
    con = duckdb.connect()  # in-memory: it attaches both files, so neither is the "default" database
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {quote_str(str(warehouse))} AS wh (READ_ONLY)")
        con.execute(f"ATTACH {quote_str(str(tmp_db))} AS pub (STORAGE_VERSION {quote_str(BI_STORAGE_VERSION)})")
        tables = mart_tables(con)
        if not tables:
            raise PublishFailed(f"no tables in schema {MARTS_SCHEMA} of {warehouse}: run dbt build first")
        if PUBLICATION not in tables:
            raise PublishFailed(f"no {MARTS_SCHEMA}.{PUBLICATION} in {warehouse}: run dbt build first")
        started = time.monotonic()
        for name in tables:
            copy_table(con, name)
        version = stamp_publication(con, published_at)
        timings["copy_s"] = round(time.monotonic() - started, 3)
        rows = {
            name: con.execute(f"SELECT count(*) FROM pub.main.{quote_ident(name)}").fetchall()[0][0] for name in tables
        }
        started = time.monotonic()
        for name in tables:  # from the staged file, so the Parquet copies are the very same version
            tmp_parquet = out / "parquet" / (f"{name}.parquet" + token)
            staged.append(tmp_parquet)
            write_parquet(con, name, tmp_parquet)
        timings["parquet_s"] = round(time.monotonic() - started, 3)
        con.execute("DETACH pub")  # checkpoints: the staged file is complete and has no WAL
    finally:
        con.close()
    return tmp_db, rows, version


def incomplete_months(db: Path) -> list[str]:
    """The months the staged marts mark `source_history_complete = false` (business rules §5)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
        }
        return report_html.incomplete_history(con, tables)
    finally:
        con.close()


def content_fingerprint(warehouse: Path, report: bool) -> str:
    """What a publish of `warehouse` would contain: every mart's columns and rows (an order-free sum of row
    hashes, which, unlike XOR, a duplicated row does not cancel), the BI storage version, and the report's code
    when there is a report. Equal fingerprints publish identical marts: the publish has nothing new to say."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {quote_str(str(warehouse))} AS wh (READ_ONLY)")
        parts: list = [BI_STORAGE_VERSION]
        for name in mart_tables(con):
            columns = con.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE database_name = 'wh' AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [MARTS_SCHEMA, name],
            ).fetchall()
            rows, total = con.execute(
                f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR "
                f"FROM wh.{MARTS_SCHEMA}.{quote_ident(name)} AS t"
            ).fetchall()[0]
            parts.append([name, columns, rows, total])
    finally:
        con.close()
    digest = hashlib.sha256(json.dumps(parts, default=str).encode())
    if report:
        for path in sorted(Path(__file__).parent.glob("report*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def unchanged_publication(out: Path, fingerprint: str) -> dict | None:
    """The current manifest when it describes `fingerprint` and every file it names is in place, else None."""
    path = out / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if manifest.get("content_fingerprint") != fingerprint:
        return None
    files = [manifest["database"], *(t["parquet"] for t in manifest["tables"].values())]
    if manifest.get("report"):
        files.append(manifest["report"])
    if not all(Path(f).exists() for f in files):
        return None
    return manifest


def publish(warehouse: Path | str | None = None, out_dir: Path | str | None = None, *, report: bool = True) -> dict:
    """Publish every table of the warehouse's `marts` schema; returns paths, tables, row counts and timings.

    With `report` the HTML report is rendered from the staged file and swapped in with it, so the report
    always describes the published version; beside it the health page (`pipeline/health.py`) and the dbt docs
    site (`pipeline/dbt_docs.py`, regenerated only when the dbt project changed; PUBLISH_DBT_DOCS=false skips it).
    When nothing would change, nothing is written and the result (the current manifest) says `"unchanged": true`.
    """
    began = time.monotonic()
    warehouse = Path(warehouse or warehouse_path()).resolve()
    out = Path(out_dir or published_dir()).resolve()
    (out / "parquet").mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    token = f"{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    staged: list[Path] = []
    timings: dict[str, float] = {}
    published = datetime.now(UTC).replace(microsecond=0)
    published_at = published.isoformat()
    if not warehouse.exists():
        raise PublishFailed(f"no warehouse at {warehouse}")
    fingerprint = content_fingerprint(warehouse, report)
    if (current := unchanged_publication(out, fingerprint)) is not None:
        rows = {n: t["rows"] for n, t in current["tables"].items()}
        return {**current, "manifest": str(out / MANIFEST_NAME), "rows": rows, "unchanged": True}
    try:
        tmp_db, rows, version = stage(warehouse, out, token, staged, timings, published)
        header = check_readable_by_duckdb_15(tmp_db)
        html_tmp = None
        pages: list[tuple[Path, Path]] = []  # the health page and the dbt docs, swapped in with the report
        if report:
            started = time.monotonic()
            html_tmp = out / (REPORT_NAME + token)
            staged.append(html_tmp)
            html = report_html.render_report(tmp_db, published_at=published_at, name=DB_NAME)
            html_tmp.write_text(html, encoding="utf-8")
            timings["report_s"] = round(time.monotonic() - started, 3)
            started = time.monotonic()
            health_tmp = out / (HEALTH_NAME + token)
            staged.append(health_tmp)
            health_tmp.write_text(
                health.render_health(warehouse, at=published, published_at=published_at), encoding="utf-8"
            )
            pages.append((health_tmp, out / HEALTH_NAME))
            timings["health_s"] = round(time.monotonic() - started, 3)
            if dbt_docs.enabled():
                started = time.monotonic()
                docs = out / dbt_docs.DOCS_DIR
                docs.mkdir(exist_ok=True)
                index_tmp, marker_tmp = docs / ("index.html" + token), docs / (dbt_docs.FINGERPRINT + token)
                staged += [index_tmp, marker_tmp]
                if dbt_docs.stage_docs_site(warehouse, index_tmp, marker_tmp, out):
                    pages += [(index_tmp, docs / "index.html"), (marker_tmp, docs / dbt_docs.FINGERPRINT)]
                timings["dbt_docs_s"] = round(time.monotonic() - started, 3)
        manifest = {
            "published_at": published_at,
            "content_fingerprint": fingerprint,  # the next publish compares it: nothing new, nothing written
            "publication": version,  # the same row readers find in the file's `publication` table
            "source_warehouse": str(warehouse),
            "storage_compatibility_version": BI_STORAGE_VERSION,
            "storage_header": header,
            "database": str(out / DB_NAME),
            "report": str(out / REPORT_NAME) if report else None,
            "health": str(out / HEALTH_NAME) if report else None,
            "dbt_docs": str(out / dbt_docs.DOCS_DIR / "index.html") if report and dbt_docs.enabled() else None,
            "tables": {n: {"rows": c, "parquet": str(out / "parquet" / f"{n}.parquet")} for n, c in rows.items()},
            "source_history_incomplete": incomplete_months(tmp_db),  # §5: marked, published, never as final
            "timings": {**timings, "total_s": round(time.monotonic() - began, 3)},
        }
        manifest_tmp = out / (MANIFEST_NAME + token)
        staged.append(manifest_tmp)
        manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        pairs = [(out / "parquet" / (f"{n}.parquet" + token), out / "parquet" / f"{n}.parquet") for n in rows]
        pairs.append((tmp_db, out / DB_NAME))
        if html_tmp is not None:
            pairs.append((html_tmp, out / REPORT_NAME))
        pairs += pages
        swap_in([*pairs, (manifest_tmp, out / MANIFEST_NAME)], token)  # the manifest last: it names a complete set
    finally:
        for path in staged:
            remove_quietly(path)
    for old in (out / "parquet").glob("*.parquet"):  # a mart dropped from the warehouse is no longer published
        if old.stem not in rows:
            remove_quietly(old)
    return {**manifest, "manifest": str(out / MANIFEST_NAME), "rows": rows, "unchanged": False}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, help="default: $WAREHOUSE_PATH or $DATA_DIR/warehouse.duckdb")
    parser.add_argument("--out-dir", type=Path, help="default: $PUBLISHED_DIR or $DATA_DIR/published")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    args = parser.parse_args(argv)
    result = publish(args.warehouse, args.out_dir, report=not args.no_report)
    if result["unchanged"]:
        print(f"nothing new since {result['published_at']}: {result['manifest']} is unchanged")
        return
    took = result["timings"]["total_s"]
    print(f"published {len(result['tables'])} marts from {result['source_warehouse']} in {took} s")
    for name, info in result["tables"].items():
        print(f"    {name:<32} {info['rows']:>10,} rows")
    print(f"    duckdb   {result['database']} (storage {BI_STORAGE_VERSION}, read-only for BI)")
    version = result["publication"]
    print(f"    version  published_at {version['published_at']}, as_of {version['as_of']} (table `{PUBLICATION}`)")
    print(f"    parquet  {Path(result['database']).parent / 'parquet'}/<mart>.parquet")
    if incomplete := result["source_history_incomplete"]:
        print(f"    WARNING  incomplete source history (§5): {', '.join(incomplete)} are short and marked so")
    if result["report"]:
        print(f"    report   {result['report']}")
        print(f"    health   {result['health']}")
    if result["dbt_docs"]:
        print(f"    dbt docs {result['dbt_docs']}")
    print(f"    manifest {result['manifest']}")


if __name__ == "__main__":
    run_cli(main)
