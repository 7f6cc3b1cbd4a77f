"""Run the data-quality gate of one layer: count in SQL, validate failures with GX, build Data Docs, record, raise.

0. The marts gate first brings its parsed copy of the raw JSON its recomputations read up to date
   (`expectations.facts`: a short read-write connection, parsing only the loads since the last gate).
1. Every suite is read through ONE read-only DuckDB connection, closed before the results are
   written. A raw table is read only for the loads after the last one a passing gate covered
   (`ops.dq_validated_loads`; `everything=True` reads it all): the daily gate reads a day of raw.
2. Each suite's checks are first counted in ONE DuckDB query (`expectations.sql_checks`, GX's meaning
   check by check). A suite where every check passes is recorded from those counts: no dataframe, no
   GX. Only a suite with an unexpected row (or a check not translated, or a failing query) goes on to
   GX, which then judges it whole exactly as it always did: its rows as dataframes (money as exact
   `Decimal`: DuckDB -> Arrow -> pandas), its verdicts, offending rows and Data Docs pages. So a clean
   gate builds no GX context and no Data Docs; a failed one renders the failing suites' pages.
3. GX validates each dataframe with its pandas datasource, stores under `$DATA_DIR/gx/`
   (stores on disk there, so Data Docs under `$DATA_DIR/data_docs/` show past runs too). A suite whose
   checks all judge one row at a time (every raw suite: its duplicate check is counted in SQL) is
   streamed in chunks of `CHUNK_ROWS` and its verdicts summed, so memory does not grow with the table
   (the first gate at scale large reads 32 M raw rows).
4. One row per expectation goes to `ops.dq_results` through a short read-write connection. This is
   a write: in Airflow it belongs in the `duckdb_writer` pool like every other writer.
5. Any failure raises `DataQualityFailed`, naming the expectation, table, column and offending rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from expectations import facts, sql_checks
from expectations.suites import RAW_ENTITIES, Dataset, Layer, build_suite, datasets
from settings import data_dir, warehouse_path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # offline: no usage statistics, ever

EXAMPLES = 5  # offending rows quoted per failed expectation
READER_MEMORY = "1GB"  # DuckDB only streams rows to GX here (a repeated-id count spills beyond it)
COUNT_THREADS = 2  # suites counted at once (the machine has 2 cores; DuckDB may use both inside one query too)
SESSION_SQL = "set TimeZone = 'UTC'"  # vendor times without an offset are UTC (vendor-apis.md)
CHUNK_ROWS = 250_000  # rows of a row-local suite held at once: with GX's work on them, ~2 GiB at the widest
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
    unexpected: int | None = None  # rows that failed, of `elements` judged (row-wise expectations)
    elements: int | None = None

    def plus(self, other: Outcome) -> Outcome:
        """This verdict and the same expectation's verdict on the next chunk of the same suite."""
        if self.unexpected is None or other.unexpected is None:  # not row-wise: the first failure speaks
            return self if not self.success or other.success else other
        unexpected, elements = self.unexpected + other.unexpected, self.elements + other.elements
        quoted = "; ".join(e for e in (self.examples, other.examples) if e).split("; ")[:EXAMPLES]
        return replace(
            self,
            success=self.success and other.success,
            observed=f"{unexpected} of {elements} rows unexpected",
            examples="; ".join(quoted) or None,
            unexpected=unexpected,
            elements=elements,
        )


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
    loads only, unless `everything` (the marts gate then parses every raw record its recomputations read again)."""
    started = time.monotonic()
    path = Path(warehouse) if warehouse else warehouse_path()
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    if layer == "marts":  # the recomputations' raw JSON, parsed for the loads since the last gate (or all of it)
        facts.refresh(path, rebuild=everything)
    now = dt.datetime.now(dt.UTC)
    result = Result(run_id or f"{layer}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", layer, now)
    con = duckdb.connect(str(path), read_only=True, config={"memory_limit": READER_MEMORY})
    try:
        con.execute(SESSION_SQL)
        sets = datasets(layer, None if everything or layer != "raw" else validated_loads(con))
        covered = newest_loads(con) if layer == "raw" else {}
        counted = count_suites(con, sets)
        passed = {name: c for name, c in counted.items() if c is not None and c.passed}
        result.rows = sum(c.rows for c in passed.values())
        judged = run_gx(result, [(ds, frames(con, ds)) for ds in sets if ds.name not in passed])
    finally:
        con.close()  # before the read-write connection: one DuckDB file, one configuration per process
    by_suite: dict[str, list[Outcome]] = {}
    for o in judged:
        by_suite.setdefault(o.suite, []).append(o)
    result.outcomes = [o for ds in sets for o in (passing(ds, passed[ds.name]) if ds.name in passed
                                                  else by_suite.get(ds.name, []))]  # fmt: skip
    result.seconds = time.monotonic() - started
    record(path, result, covered if result.success else {})  # a failed slice is read again next time
    logging.getLogger(__name__).info(result.report())
    if not result.success:
        raise DataQualityFailed(result)
    return result


def count_suites(con: duckdb.DuckDBPyConnection, sets: list[Dataset]) -> dict[str, sql_checks.Counted | None]:
    """Every suite's counts, COUNT_THREADS suites at a time, each on a cursor of its own: most suites are small
    or read JSON one row group at a time, so one query leaves a core idle (the marts gate's two recomputations
    from raw were 6 s of one thread's wait)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(ds: Dataset) -> sql_checks.Counted | None:
        cursor = con.cursor()  # a connection of its own to the same database: its settings are its own too
        try:
            cursor.execute(SESSION_SQL)
            return sql_checks.count(cursor, ds)
        finally:
            cursor.close()

    with ThreadPoolExecutor(COUNT_THREADS) as pool:
        return dict(zip([ds.name for ds in sets], pool.map(one, sets), strict=True))


def passing(ds: Dataset, counted: sql_checks.Counted) -> list[Outcome]:
    """The verdicts of a suite whose every check passed in SQL, worded as GX words a passing row-wise check."""
    return [
        Outcome(ds.name, ds.table, sql_checks.gx_type(check.expectation), ", ".join(sql_checks.columns_of(check))
                or None, True, f"0 of {elements} rows unexpected", None, check.description, 0, elements)
        for check, (elements, _) in zip(ds.checks, counted.per_check, strict=True)
    ]  # fmt: skip


class Unreadable(Exception):
    """A suite's query failed (a missing table or column): a failure of that suite, not a crash."""


def frames(con: duckdb.DuckDBPyConnection, ds: Dataset) -> Iterator[Any]:
    """The suite's rows as pandas frames: one frame, or chunks of CHUNK_ROWS for a row-local suite."""
    try:
        relation = con.sql(ds.sql)
        reader = relation.to_arrow_reader(CHUNK_ROWS) if ds.row_local else None
        whole = None if ds.row_local else relation.to_arrow_table()
    except duckdb.Error as e:
        raise Unreadable(f"cannot read the dataset: {e}".splitlines()[0]) from None
    if whole is not None:
        yield whole.to_pandas()
        return
    import pyarrow as pa

    empty = True
    for batch in reader:
        empty = False
        yield pa.Table.from_batches([batch]).to_pandas()
    if empty:  # an empty slice is still validated (its expectations pass on no rows, and are recorded)
        yield reader.schema.empty_table().to_pandas()


def newest_loads(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per raw table, the newest load it holds: what this gate covers when it passes."""
    covered = {}
    for table in {e.table for e in RAW_ENTITIES}:  # names from the suite declarations (code), not outside values
        with contextlib.suppress(duckdb.Error):  # a missing table fails its suite
            covered[table] = con.execute(f"select coalesce(max(load_id), 0) from {table}").fetchall()[0][0]
    return covered


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


def run_gx(result: Result, work: list[tuple[Dataset, Iterator[Any]]]) -> list[Outcome]:
    if not work:  # every suite passed in SQL: no GX context, no import of GX (seconds each)
        return []
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx_context()
    source = context.data_sources.add_or_update_pandas("warehouse")
    outcomes, identifiers = [], []
    for ds, chunks in work:
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
        verdicts: list[Outcome] = []
        try:
            for part, frame in enumerate(chunks):
                result.rows += len(frame)
                # each chunk its own run name, so Data Docs keep every chunk's page, not only the last
                run = RunIdentifier(run_name=result.run_id + (f".{part}" if part else ""), run_time=result.validated_at)
                with warnings.catch_warnings():  # GX's own use of a pandas API deprecated in pandas 3.1: not ours
                    warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
                    checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run)
                del frame
                for identifier, validation in checkpoint_result.run_results.items():
                    identifiers.append(identifier)
                    chunk = [outcome(ds, r) for r in validation.results]  # raw values: ops.dq_results, the message
                    verdicts = [a.plus(b) for a, b in zip(verdicts, chunk, strict=True)] if verdicts else chunk
                    context.validation_results_store.set(identifier, escaped_for_docs(validation))
        except Unreadable as e:
            verdicts = [Outcome(ds.name, ds.table, "query", None, False, str(e), None)]
        outcomes += verdicts
    if identifiers:  # only this run's pages and the index: the full rebuild grows with history
        built = context.build_data_docs(site_names=["warehouse"], resource_identifiers=identifiers)
        result.docs_index = data_dir().resolve() / "data_docs" / "index.html" if built else None
    return outcomes


def escaped_for_docs(validation: Any) -> Any:
    """The validation result with every value it quotes HTML-escaped, for the store Data Docs render from:
    GX 1.x writes the offending values (vendor text) into the pages as raw HTML, so a `<script>` in a
    record would run in the browser of whoever opens the docs. Numbers and the suite's own settings stay."""
    for r in validation.results:
        if r.result:
            r.result = _html_escaped(r.result)
        if r.exception_info:
            r.exception_info = _html_escaped(r.exception_info)
    return validation


def _html_escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {k: _html_escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_html_escaped(v) for v in value)
    return value


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
        unexpected=res.get("unexpected_count"),
        elements=res.get("element_count"),
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
    """The outcomes and the advanced watermark in one transaction, each table one INSERT of column lists
    (zipped by `unnest`): `executemany` runs its statement once per row."""
    outcomes = result.outcomes
    columns = [
        [o.suite for o in outcomes], [o.expectation for o in outcomes], [o.table for o in outcomes],
        [o.column for o in outcomes], [o.success for o in outcomes], [o.observed for o in outcomes],
        [o.examples for o in outcomes],
    ]  # fmt: skip
    con = duckdb.connect(str(path))
    try:
        con.execute(DQ_RESULTS_DDL)
        con.begin()  # the results and the advanced watermark together, or neither
        con.execute(
            """insert into ops.dq_results
               select $run_id, $validated_at, $layer, unnest($suite::varchar[]), unnest($expectation::varchar[]),
                      unnest($table_name::varchar[]), unnest($column_name::varchar[]), unnest($success::boolean[]),
                      unnest($observed::varchar[]), unnest($examples::varchar[])""",
            {"run_id": result.run_id, "validated_at": result.validated_at, "layer": result.layer,
             **dict(zip(("suite", "expectation", "table_name", "column_name", "success", "observed", "examples"),
                        columns, strict=True))},
        )  # fmt: skip
        con.execute(
            """insert or replace into ops.dq_validated_loads
               select unnest($tables::varchar[]), unnest($loads::bigint[]), $run_id, $validated_at""",
            {"tables": list(covered), "loads": list(covered.values()), "run_id": result.run_id,
             "validated_at": result.validated_at},
        )  # fmt: skip
        con.commit()
    finally:
        con.close()
