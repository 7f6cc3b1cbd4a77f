"""Pipeline health for data engineers: a static page beside the report, in the report's style.

    render_health(warehouse, at=...) -> HTML     (publish writes it as published/health.html)

Built at publish time from the warehouse's own bookkeeping, read-only: per source entity the last
successful extract (`ops.extract_runs`: records, rejects, retries, HTTP 429s), each vendor's freshness
(hours since its last successful load against the freshness check's threshold) and the last result of each
data-quality gate (`ops.dq_results`). It is a snapshot of what the published version was built from; the
Airflow UI stays the place for live task state, logs and retries.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

import duckdb

from pipeline.report import count, page, query, table, wrap


def ops_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {n for (n,) in query(con, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'ops'")}


def extracts_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "extract_runs" not in tables:
        return "<p>No extract has run yet.</p>"
    found = query(
        con,
        """WITH ranked AS (
               SELECT *, row_number() OVER (PARTITION BY vendor, endpoint ORDER BY finished_at DESC) AS newest
               FROM ops.extract_runs WHERE status = 'succeeded'),
           entities AS (SELECT DISTINCT vendor, endpoint FROM ops.extract_runs),
           failed AS (  -- runs that failed after the last success (or ever, if none): red in the Airflow UI
               SELECT r.vendor, r.endpoint, count(*) AS failures FROM ops.extract_runs AS r
               LEFT JOIN ranked AS s ON s.vendor = r.vendor AND s.endpoint = r.endpoint AND s.newest = 1
               WHERE r.status <> 'succeeded' AND (s.finished_at IS NULL OR r.started_at > s.finished_at)
               GROUP BY ALL)
           SELECT e.vendor, e.endpoint, strftime(s.finished_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC'),
                  s.records, s.rejected, s.requests, s.retries, s.throttled, round(s.duration_s, 1),
                  coalesce(f.failures, 0)
           FROM entities AS e
           LEFT JOIN ranked AS s ON s.vendor = e.vendor AND s.endpoint = e.endpoint AND s.newest = 1
           LEFT JOIN failed AS f ON f.vendor = e.vendor AND f.endpoint = e.endpoint
           ORDER BY e.vendor, e.endpoint""",
    )
    rows = [
        [escape(v), escape(e), escape(at) if at else '<span class="warn">never</span>', count(rec),
         count(rej) if not rej else f'<span class="warn">{rej:,}</span>', count(req), count(ret), count(thr),
         "—" if dur is None else f"{dur:,.1f}",
         "0" if not fails else f'<span class="warn">{fails:,}</span>']
        for v, e, at, rec, rej, req, ret, thr, dur, fails in found
    ]  # fmt: skip
    headers = ["source", "entity", "last successful extract", "records", "rejected", "requests", "retries",
               "429s", "seconds", "failed runs since"]  # fmt: skip
    return (
        "<p>The last successful extract of each source entity (<code>ops.extract_runs</code>): records landed, "
        "records rejected by landing validation, HTTP requests, retries and rate-limit answers (429), and runs "
        "that failed after it.</p>" + wrap(table(headers, rows, numeric_from=3))
    )


def freshness_section(con: duckdb.DuckDBPyConnection, tables: set[str], at: datetime, limits: dict) -> str:
    loaded = {}
    if "extract_runs" in tables:
        loaded = dict(
            # A vendor is as fresh as its stalest entity: `dbt source freshness` judges each endpoint.
            query(
                con,
                """SELECT vendor, min(last) FROM (SELECT vendor, endpoint, max(loaded_at) AS last
                          FROM ops.extract_runs WHERE status = 'succeeded' GROUP BY 1, 2) GROUP BY 1""",
            )
        )
    rows = []
    for vendor, limit in sorted(limits.items()):
        last = loaded.get(vendor)
        age = None if last is None else (at - last).total_seconds() / 3600
        verdict = (
            '<span class="warn">never loaded</span>'
            if age is None
            else '<span class="warn">stale</span>'
            if age > limit
            else "fresh"
        )
        rows.append(
            [
                escape(vendor),
                "—" if last is None else f"{last.astimezone(at.tzinfo):%Y-%m-%d %H:%M %Z}",
                "—" if age is None else f"{age:,.1f} h",
                f"{limit:g} h",
                verdict,
            ]
        )
    return (
        "<p>Hours since each source's last successful load (of its entity loaded longest ago), against the "
        "threshold the transform DAG's freshness check fails at (<code>FRESHNESS_&lt;VENDOR&gt;_HOURS</code>), "
        "at the time of this page.</p>" + wrap(table(["source", "last load", "age", "threshold", "status"], rows))
    )


def gates_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "dq_results" not in tables:
        return "<p>No data-quality gate has run on this warehouse yet.</p>"
    runs = query(
        con,
        """WITH last AS (SELECT layer, arg_max(run_id, validated_at) AS run_id FROM ops.dq_results GROUP BY layer)
           SELECT r.layer, strftime(max(r.validated_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC'), count(*),
                  count(*) FILTER (WHERE NOT r.success)
           FROM ops.dq_results AS r JOIN last USING (layer, run_id) GROUP BY r.layer ORDER BY r.layer""",
    )
    failed = query(
        con,
        """WITH last AS (SELECT layer, arg_max(run_id, validated_at) AS run_id FROM ops.dq_results GROUP BY layer)
           SELECT r.layer, r.suite, r.expectation, coalesce(r.table_name, ''), coalesce(r.column_name, ''),
                  coalesce(r.observed_value, '')
           FROM ops.dq_results AS r JOIN last USING (layer, run_id) WHERE NOT r.success
           ORDER BY r.layer, r.suite, r.expectation""",
    )
    rows = [
        [escape(layer), escape(when), count(n),
         "passed" if not bad else f'<span class="warn">failed: {bad:,}</span>']
        for layer, when, n, bad in runs
    ]  # fmt: skip
    html = (
        "<p>The last run of each Great Expectations gate (<code>ops.dq_results</code>): the raw layer before "
        "dbt, the marts before publishing. A failed gate stops the run, so the published marts passed the last "
        "marts gate.</p>" + wrap(table(["gate", "last run", "expectations", "result"], rows))
    )
    if failed:
        html += wrap(
            table(
                ["gate", "suite", "expectation", "table", "column", "observed"],
                [[escape(str(v)) for v in r] for r in failed],
            )
        )
    return html


def freshness_limits() -> dict[str, float]:
    """vendor -> its freshness threshold in hours: the declaration's (ingest/sources), FRESHNESS_<VENDOR>_HOURS
    overriding it, as in the generated dbt sources YAML that the transform's freshness check runs."""
    from ingest.sources import vendors
    from settings import freshness_hours

    return {name: freshness_hours(name, vendor.freshness_hours) for name, vendor in vendors().items()}


def render_health(
    warehouse: Path | str, *, at: datetime, limits: dict[str, float] | None = None, published_at: str | None = None
) -> str:
    """The health page's HTML from the warehouse's `ops` schema (read-only). `limits`: vendor -> freshness
    threshold in hours (default: the declared ones, as `dbt source freshness` applies them)."""
    if limits is None:
        limits = freshness_limits()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = ops_tables(con)
        sections = [
            ("extracts", "Extracts", extracts_section(con, tables)),
            ("freshness", "Freshness", freshness_section(con, tables, at, limits)),
            ("gates", "Data-quality gates", gates_section(con, tables)),
        ]
    finally:
        con.close()
    when = published_at or at.isoformat()
    intro = (
        f'<p class="meta">As of the publish at {escape(when)}: what the published marts were built from. Live '
        "task state, logs and retries are in the Airflow UI (DAGs <code>extract_*</code>, <code>transform</code>)."
        '</p>\n<nav class="meta"><a href="report.html">Report</a><a href="dbt-docs/index.html">dbt docs</a></nav>\n'
    )
    return page("Pipeline health", "Pipeline health", intro, sections)
