"""Run the data-quality gate of one layer: read, validate with GX, build Data Docs, record, raise.

1. Every suite's dataframe is read through ONE read-only DuckDB connection, closed before anything
   else happens (money as exact `Decimal`: DuckDB -> Arrow -> pandas). A raw table is read only for
   the loads after the last one a passing gate covered (`ops.dq_validated_loads`; `everything=True`
   reads it all): the daily gate reads a day of raw, not years of it, and its memory stays small.
2. GX validates each dataframe with its pandas datasource, stores under `$DATA_DIR/gx/`
   (stores on disk there, so Data Docs under `$DATA_DIR/data_docs/` show past runs too).
3. One row per expectation goes to `ops.dq_results` through a short read-write connection. This is
   a write: in Airflow it belongs in the `duckdb_writer` pool like every other writer.
4. Any failure raises `DataQualityFailed`, naming the expectation, table, column and offending rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from expectations.suites import RAW_ENTITIES, Dataset, Layer, build_suite, datasets
from ingest.paths import data_dir, warehouse_path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # offline: no usage statistics, ever

EXAMPLES = 5  # offending rows quoted per failed expectation
DQ_RESULTS_DDL = """
create schema if not exists ops;
create table if not exists ops.dq_results (
    run_id varchar not null, validated_at timestamptz not null, layer varchar not null, suite varchar not null,
    expectation varchar not null, table_name varchar, column_name varchar, success boolean not null,
    observed_value varchar, unexpected_examples varchar
);
create table if not exists ops.dq_validated_loads (
    table_name varchar primary key, load_id bigint not null, run_id varchar not null, validated_at timestamptz not null
);
"""


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict, as stored in ops.dq_results."""

    suite: str
    table: str
    expectation: str
    column: str | None
    success: bool
    observed: str | None
    examples: str | None
    description: str | None = None


@dataclass
class Result:
    run_id: str
    layer: Layer
    validated_at: dt.datetime
    outcomes: list[Outcome] = field(default_factory=list)
    rows: int = 0  # rows validated, over every suite
    seconds: float = 0.0
    docs_index: Path | None = None

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    def report(self) -> str:
        head = (
            f"data-quality gate '{self.layer}' run {self.run_id}: {len(self.outcomes) - len(self.failures)} of "
            f"{len(self.outcomes)} expectations passed over {self.rows:,} rows in {self.seconds:.1f} s"
        )
        lines = [head]
        for o in self.failures:
            what = f" ({o.description})" if o.description else ""
            lines.append(f"  FAILED {o.expectation}{what}\n    table {o.table}, column {o.column or '-'}: {o.observed}")
            if o.examples:
                lines.append(f"    offending values: {o.examples}")
        if self.docs_index:
            lines.append(f"Data Docs: {self.docs_index}")
        return "\n".join(lines)


class DataQualityFailed(RuntimeError):
    """A gate failed; the message lists each failed expectation with its table, column and offending values."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.report())
        self.result = result


def validate(
    layer: Layer, warehouse: Path | str | None = None, run_id: str | None = None, everything: bool = False
) -> Result:
    """Validate every suite of `layer` ("raw" | "marts") against the warehouse; raise DataQualityFailed
    on any failure (after recording the results and building Data Docs). Raw tables: the rows of new
    loads only, unless `everything`."""
    started = time.monotonic()
    path = Path(warehouse) if warehouse else warehouse_path()
    now = dt.datetime.now(dt.UTC)
    result = Result(run_id or f"{layer}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", layer, now)
    sets, frames, read_errors, covered = read_frames(path, layer, everything)
    result.rows = sum(len(f) for f in frames.values())
    for ds in sets:
        if ds.name in read_errors:  # a missing table or column is a failure, not a crash
            result.outcomes.append(Outcome(ds.name, ds.table, "query", None, False, read_errors[ds.name], None))
    result.outcomes += run_gx(result, [(ds, frames[ds.name]) for ds in sets if ds.name in frames])
    result.seconds = time.monotonic() - started
    record(path, result, covered if result.success else {})  # a failed slice is read again next time
    logging.getLogger(__name__).info(result.report())
    if not result.success:
        raise DataQualityFailed(result)
    return result


def read_frames(
    path: Path, layer: Layer, everything: bool
) -> tuple[tuple[Dataset, ...], dict[str, Any], dict[str, str], dict[str, int]]:
    """(the suites, their dataframes, the suites that could not be read and why, and per raw table the
    newest load these frames cover)."""
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    frames, errors, covered = {}, {}, {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")  # vendor times without an offset are UTC (vendor-apis.md)
        sets = datasets(layer, None if everything or layer != "raw" else validated_loads(con))
        for table in {e.table for e in RAW_ENTITIES} if layer == "raw" else ():
            with contextlib.suppress(duckdb.Error):  # a missing table fails its suite below
                covered[table] = con.execute(f"select coalesce(max(load_id), 0) from {table}").fetchall()[0][0]
        for ds in sets:
            try:
                frames[ds.name] = con.sql(ds.sql).to_arrow_table().to_pandas()
            except duckdb.Error as e:
                errors[ds.name] = f"cannot read the dataset: {e}".splitlines()[0]
    finally:
        con.close()  # before any read-write connection: one DuckDB file, one configuration per process
    return sets, frames, errors, covered


def validated_loads(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per raw table, the newest load a passing raw gate has covered."""
    try:
        return dict(con.execute("select table_name, load_id from ops.dq_validated_loads").fetchall())
    except duckdb.CatalogException:  # no gate has passed yet
        return {}


def gx_context() -> Any:
    """GX with its stores on disk under $DATA_DIR/gx (results kept, so Data Docs show past runs) and one
    Data Docs site at $DATA_DIR/data_docs. Configured in memory, not by a great_expectations.yml: nothing
    to scaffold or commit, and GX does not re-read a YAML file for every lookup (measured: ~25% of a run)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )

    root = data_dir().resolve()
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root / "data_docs")},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(root / "gx")),
        data_docs_sites={"warehouse": site},
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_gx(result: Result, work: list[tuple[Dataset, Any]]) -> list[Outcome]:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx_context()
    source = context.data_sources.add_or_update_pandas("warehouse")
    run = RunIdentifier(run_name=result.run_id, run_time=result.validated_at)
    outcomes, identifiers = [], []
    for ds, frame in work:
        asset = next((a for a in source.assets if a.name == ds.name), None) or source.add_dataframe_asset(ds.name)
        batch = next(iter(asset.batch_definitions), None) or asset.add_batch_definition_whole_dataframe("whole")
        suite = context.suites.add_or_update(build_suite(ds))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=ds.name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=ds.name,
                validation_definitions=[definition],
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": EXAMPLES,
                    "unexpected_index_column_names": list(ds.key),
                },
            )
        )
        with warnings.catch_warnings():  # GX's own use of a pandas API deprecated in pandas 3.1: not ours to fix
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run)
        for identifier, validation in checkpoint_result.run_results.items():
            identifiers.append(identifier)
            outcomes += [outcome(ds, r) for r in validation.results]
    if identifiers:  # only this run's pages and the index: the full rebuild grows with history
        built = context.build_data_docs(site_names=["warehouse"], resource_identifiers=identifiers)
        result.docs_index = data_dir().resolve() / "data_docs" / "index.html" if built else None
    return outcomes


def outcome(ds: Dataset, r: Any) -> Outcome:
    config = r.expectation_config
    kwargs = config.kwargs
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] or kwargs.get("column_list", [])
    res = r.result or {}
    if r.exception_info and r.exception_info.get("raised_exception"):
        observed = f"error: {r.exception_info.get('exception_message')}"
    elif "observed_value" in res:
        observed = str(res["observed_value"])
    elif "unexpected_count" in res:
        observed = f"{res['unexpected_count']} of {res.get('element_count')} rows unexpected"
    else:
        observed = None
    return Outcome(
        suite=ds.name,
        table=ds.table,
        expectation=config.type,
        column=", ".join(columns) or None,
        success=bool(r.success),
        observed=observed,
        examples=None if r.success else examples(res, ds.key),
        description=config.description,
    )


def examples(res: dict, key: tuple[str, ...]) -> str | None:
    """The offending rows: their key first, then the values checked."""
    rows = res.get("partial_unexpected_index_list") or []
    if rows and isinstance(rows[0], dict):
        ordered = [{**{k: row[k] for k in key if k in row}, **row} for row in rows[:EXAMPLES]]
        return "; ".join(" ".join(f"{k}={plain(v)}" for k, v in row.items()) for row in ordered)
    values = res.get("partial_unexpected_list") or []
    return ", ".join(plain(v) for v in values[:EXAMPLES]) or None


def plain(value: Any) -> str:
    """numpy scalars and pandas timestamps as their plain value (np.int32(2) -> 2)."""
    return str(value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value)


def record(path: Path, result: Result, covered: dict[str, int]) -> None:
    rows = [
        (result.run_id, result.validated_at, result.layer, o.suite, o.expectation, o.table, o.column, o.success,
         o.observed, o.examples)
        for o in result.outcomes
    ]  # fmt: skip
    con = duckdb.connect(str(path))
    try:
        con.execute(DQ_RESULTS_DDL)
        con.begin()  # the results and the advanced watermark together, or neither
        con.executemany("insert into ops.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if covered:  # (DuckDB's executemany refuses an empty list)
            con.executemany(
                "insert or replace into ops.dq_validated_loads values (?, ?, ?, ?)",
                [(table, load_id, result.run_id, result.validated_at) for table, load_id in covered.items()],
            )
        con.commit()
    finally:
        con.close()
