"""A source entity is a declaration: where it lives, its key, its version time, how it pages, what is valid.

`ingest/sources/<vendor>.py` declares a vendor (`Vendor`) and its endpoints (`Endpoint`). Everything else
reads these: landing validation (below), the loader, the raw quality gate (expectations/suites.py), the
dbt sources YAML and its freshness (ingest/dbt_sources.py), the extraction DAGs and `pipeline.run`.
Light on purpose (no third-party import): DAG files read the vendor list at every parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Endpoint:
    vendor: str
    entity: str  # lands in raw_<vendor>.<entity>
    path: str
    envelope: str  # where the list is in a response body
    version_fields: tuple[str, ...]  # the record's version time = the latest of these timestamps
    incremental: bool = True  # False: every run reads everything (small, or no usable filter)
    page_size: int = 100
    lookback: timedelta = timedelta(hours=6)  # overlap with the previous run, for late updates
    key: str = "id"
    order_field: str = ""  # the field a server-side sort / stop condition uses (vendor specific)
    params: dict = field(default_factory=dict)  # fixed query parameters of the first request
    required: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()  # instants that happened: parseable, and (raw gate) not before 2010 nor ahead
    scheduled: tuple[str, ...] = ()  # instants that may lie ahead (a charge's scheduled date): parseable only
    money: tuple[str, ...] = ()  # parseable decimals, non-negative unless also in `signed`
    signed: tuple[str, ...] = ()  # money that may be negative (an adjustment giving money back)
    enums: dict[str, frozenset[str]] = field(default_factory=dict)  # allowed statuses, in the vendor's spelling
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # whole numbers within bounds (raw gate)

    @property
    def name(self) -> str:
        return f"{self.vendor}.{self.entity}"

    @property
    def table(self) -> str:
        return f"raw_{self.vendor}.{self.entity}"


@dataclass(frozen=True)
class Vendor:
    """One vendor: its extraction DAG, connection, paging client and how fresh its data must be."""

    name: str  # lands in raw_<name>; its DAG is extract_<name>
    description: str  # the dbt source's description
    client: str  # "module:Class" of its paging client (imported only by what extracts)
    schedule: str  # its extraction DAG's default cron or preset; SCHEDULE_<NAME> overrides
    freshness_hours: int  # hours without a successful load of an endpoint before the freshness check fails
    endpoints: tuple[Endpoint, ...]

    @property
    def conn_id(self) -> str:
        return f"{self.name}_default"

    @property
    def conn_env(self) -> str:
        """The environment variable that holds its connection (Airflow's AIRFLOW_CONN_<CONN_ID>)."""
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _structure(paths: list[str]) -> dict:
    """The json_transform structure that reads every declared path (text values) in one parse of a record."""
    tree: dict = {}
    for path in paths:
        node = tree
        segments = path.split(".")
        for i, segment in enumerate(segments):
            leaf = "VARCHAR" if i == len(segments) - 1 else {}
            want = [leaf] if segment.endswith("[]") else leaf
            have = node.setdefault(segment.removesuffix("[]"), want)
            if type(have) is not type(want) or (isinstance(want, list) and type(have[0]) is not type(leaf)):
                raise ValueError(f"path {path!r} conflicts with another declared path")
            node = have[0] if isinstance(want, list) else have
    return tree


def _access(base: str, segments: list[str], depth: int = 1) -> str:
    """SQL reading a path from the transformed struct: a scalar, or a flat list for paths through lists."""
    segment, rest = segments[0], segments[1:]
    field = f"{base}.{_ident(segment.removesuffix('[]'))}"
    if not rest:
        return field
    if not segment.endswith("[]"):
        return _access(field, rest, depth)
    var = f"e{depth}"
    inner = f"list_transform({field}, lambda {var}: {_access(var, rest, depth + 1)})"
    return f"flatten({inner})" if any(s.endswith("[]") for s in rest) else inner


_BAD = {  # SQL: is the non-null text x not a valid value of this kind?
    "timestamp": "NOT isfinite(coalesce(TRY_CAST({x} AS TIMESTAMPTZ), 'infinity'::TIMESTAMPTZ))",
    "amount": "TRY_CAST({x} AS DECIMAL(38, 10)) IS NULL",
}


def validation_sql(ep: Endpoint, source: str) -> str:
    """SQL over `source(record JSON, extracted_at)` -> id, updated_at (the version), problem (NULL when valid).

    Set-based, so landing costs no Python per record. Every declared path, scalar or through lists
    (`items[].price`), comes from ONE parse of the record (json_transform to text values, the same
    text json_extract_string gives). A required path through lists needs a value in every element.
    """
    paths: list[str] = []

    def val(path: str) -> str:
        if path not in paths:
            paths.append(path)
        return _access("v", path.split("."))

    def first_bad(path: str, bad: str) -> tuple[str, str]:
        """(condition, offending value) for a path whose values must not satisfy `bad`."""
        if "[]" in path:
            found = f"list_filter({val(path)}, lambda x: x IS NOT NULL AND {bad.format(x='x')})[1]"
            return f"{found} IS NOT NULL", found
        return f"({val(path)} IS NOT NULL AND {bad.format(x=val(path))})", val(path)

    key = val(ep.key)
    cases = [f"WHEN {key} IS NULL OR {key} = '' THEN {_lit(f'missing primary key {ep.key!r}')}"]
    for path in ep.required:
        missing = (
            f"len(list_filter({val(path)}, lambda x: x IS NOT NULL)) < greatest(len({val(path)}), 1)"
            if "[]" in path
            else f"{val(path)} IS NULL"
        )
        cases.append(f"WHEN {missing} THEN {_lit(f'missing required field {path!r}')}")
    for paths_of_kind, kind in (((*ep.timestamps, *ep.scheduled), "timestamp"), (ep.money, "amount")):
        for path in paths_of_kind:
            cond, value = first_bad(path, _BAD[kind])
            cases.append(f"WHEN {cond} THEN {_lit(f'field {path!r}: unparseable {kind} ')} || {value}")
    for path, allowed in ep.enums.items():
        values = ", ".join(_lit(a) for a in sorted(allowed))
        cond, value = first_bad(path, f"{{x}} NOT IN ({values})")
        cases.append(
            f"WHEN {cond} THEN {_lit(f'field {path!r}: ')} || {value} || ' is not one of the documented values'"
        )
    versions = [f"TRY_CAST({val(f)} AS TIMESTAMPTZ)" for f in ep.version_fields] or ["NULL::TIMESTAMPTZ"]
    structure = json.dumps(_structure(paths), separators=(",", ":"))
    return f"""
        SELECT {key} AS id, greatest({", ".join(versions)}) AS updated_at,
               CASE {" ".join(cases)} END AS problem, extracted_at, record
        FROM (SELECT record, extracted_at, json_transform(record, {_lit(structure)}) AS v FROM {source})"""


def check_records(ep: Endpoint, records: list) -> list[tuple[datetime | None, str | None]]:
    """(version, problem) for each record, by the same SQL that landing uses (for tests and tools)."""
    import duckdb
    import msgspec

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""SELECT updated_at, problem FROM ({validation_sql(ep, "src")})""".replace(
            "FROM src", "FROM (SELECT unnest(json_extract(?::JSON, '$[*]')) AS record, NULL AS extracted_at) src"
        ),
        [msgspec.json.encode(records).decode()],
    ).fetchall()
    con.close()
    return [(None, p) if p else (u, None) for u, p in rows]


def check_record(ep: Endpoint, record: object) -> tuple[datetime | None, str | None]:
    return check_records(ep, [record])[0]
