"""The suites' checks as one DuckDB aggregate per suite: the gate's fast path.

Each check of a suite becomes two counts in ONE query over the suite's rows (rows in its domain, rows
unexpected), so a suite costs one scan inside DuckDB instead of a dataframe and a GX validation per
expectation. The meaning is GX's, check by check (`Check.expectation` names the GX class):

- map expectations ignore nulls, except `ToNotBeNull` / `ToBeNull`, which judge them;
- `row_condition` (column, value) narrows the domain to rows where column = value;
- pairs: `ignore_row_if` "either_value_is_missing" (A >= B) / "both_values_are_missing" (A = B, the default);
- uniqueness counts every copy as unexpected (GX: `duplicated(keep=False)`), nulls ignored.

This path only ever says "every check passed": a suite with any unexpected row, a check or an argument
not translated here, or a query that fails goes to GX whole (`runner.run_gx`), which then writes the
verdicts, the offending rows and the Data Docs pages exactly as before. A check this module cannot
translate costs time, not a missed failure; a translated check must never be more lenient than GX's,
which the gate tests prove on corrupted rows (they fail through this path first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from expectations.suites import Check, Dataset
from ingest.sql import identifier


class NotTranslated(Exception):
    """A check this module has no SQL for (GX judges the suite)."""


@dataclass(frozen=True)
class Predicate:
    """A SQL condition with its `?` parameters in the order they appear."""

    sql: str
    params: tuple[Any, ...] = ()

    def __and__(self, other: Predicate) -> Predicate:
        return Predicate(f"({self.sql}) and ({other.sql})", self.params + other.params)


TRUE = Predicate("true")


def gx_type(expectation: str) -> str:
    """`ExpectColumnValuesToBeInSet` -> `expect_column_values_to_be_in_set` (GX's `config.type`)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", expectation).lower()


def columns_of(check: Check) -> list[str]:
    kwargs = check.kwargs
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] or list(kwargs.get("column_list", []))


def unexpected(check: Check, index: int) -> Predicate:
    """The rows this check finds unexpected (within its domain)."""
    kwargs = {k: v for k, v in check.kwargs.items() if v is not None and k != "row_condition"}
    if check.expectation not in UNEXPECTED:
        raise NotTranslated(check.expectation)
    arguments, rows = UNEXPECTED[check.expectation]
    if set(kwargs) - arguments:  # an argument that would change the meaning (mostly, ...): GX's to judge
        raise NotTranslated(f"{check.expectation} {sorted(set(kwargs) - arguments)}")
    return rows(kwargs, index)


def _between(kw: dict, _: int) -> Predicate:
    col, outside, params = identifier(kw["column"]), [], []
    if kw.get("min_value") is not None:
        outside.append(f"{col} {'<=' if kw.get('strict_min') else '<'} ?")
        params.append(kw["min_value"])
    if kw.get("max_value") is not None:
        outside.append(f"{col} {'>=' if kw.get('strict_max') else '>'} ?")
        params.append(kw["max_value"])
    if not outside:
        raise NotTranslated("ExpectColumnValuesToBeBetween without bounds")
    return Predicate(f"{col} is not null and ({' or '.join(outside)})", tuple(params))


def _in_set(kw: dict, _: int) -> Predicate:
    col, values = identifier(kw["column"]), tuple(kw["value_set"])
    if not values:
        raise NotTranslated("ExpectColumnValuesToBeInSet with an empty set")
    return Predicate(f"{col} is not null and {col} not in ({', '.join('?' * len(values))})", values)


def _a_at_least_b(kw: dict, _: int) -> Predicate:
    if kw.get("ignore_row_if") != "either_value_is_missing":
        raise NotTranslated(f"ExpectColumnPairValuesAToBeGreaterThanB ignore_row_if={kw.get('ignore_row_if')}")
    a, b, op = identifier(kw["column_A"]), identifier(kw["column_B"]), ">=" if kw.get("or_equal") else ">"
    return Predicate(f"{a} is not null and {b} is not null and not ({a} {op} {b})")


def _a_equals_b(kw: dict, _: int) -> Predicate:
    if kw.get("ignore_row_if", "both_values_are_missing") != "both_values_are_missing":
        raise NotTranslated(f"ExpectColumnPairValuesToBeEqual ignore_row_if={kw.get('ignore_row_if')}")
    a, b = identifier(kw["column_A"]), identifier(kw["column_B"])
    return Predicate(f"not ({a} is null and {b} is null) and {a} is distinct from {b}")


def _compound_unique(kw: dict, index: int) -> Predicate:
    all_missing = " and ".join(f"{identifier(c)} is null" for c in kw["column_list"])
    return Predicate(f"not ({all_missing}) and {copies(index)} > 1")


def _column(kw: dict) -> str:
    return identifier(kw["column"])


PAIR = {"column_A", "column_B", "ignore_row_if"}
# GX class -> (the arguments translated, the unexpected rows)
UNEXPECTED = {
    "ExpectColumnValuesToNotBeNull": ({"column"}, lambda kw, _: Predicate(f"{_column(kw)} is null")),
    "ExpectColumnValuesToBeNull": ({"column"}, lambda kw, _: Predicate(f"{_column(kw)} is not null")),
    "ExpectColumnValuesToBeInSet": ({"column", "value_set"}, _in_set),
    "ExpectColumnValuesToBeBetween": ({"column", "min_value", "max_value", "strict_min", "strict_max"}, _between),
    "ExpectColumnValuesToMatchRegex": ({"column", "regex"}, lambda kw, _: Predicate(
        f"{_column(kw)} is not null and not regexp_matches(cast({_column(kw)} as varchar), ?)", (kw["regex"],))),
    "ExpectColumnPairValuesAToBeGreaterThanB": (PAIR | {"or_equal"}, _a_at_least_b),
    "ExpectColumnPairValuesToBeEqual": (PAIR, _a_equals_b),
    "ExpectColumnValuesToBeUnique": ({"column"}, lambda kw, i: Predicate(
        f"{_column(kw)} is not null and {copies(i)} > 1")),
    "ExpectCompoundColumnsToBeUnique": ({"column_list"}, _compound_unique),
}  # fmt: skip
UNIQUENESS = ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")


def copies(index: int) -> str:
    return f"__copies_{index}"


def domain(check: Check) -> Predicate:
    if "row_condition" not in check.kwargs:
        return TRUE
    column, value = check.kwargs["row_condition"]
    return Predicate(f"{identifier(column)} = ?", (value,))


def verdict_query(ds: Dataset) -> Predicate:
    """One query: per check, the rows in its domain and the rows it finds unexpected."""
    windows = [
        f"count(*) over (partition by {', '.join(identifier(col) for col in columns_of(check))}) as {copies(i)}"
        for i, check in enumerate(ds.checks)
        if check.expectation in UNIQUENESS
    ]
    counts, params = [], []
    for i, check in enumerate(ds.checks):
        within, bad = domain(check), domain(check) & unexpected(check, i)
        counts += [f"count(*) filter (where {within.sql})", f"count(*) filter (where {bad.sql})"]
        params += [*within.params, *bad.params]
    rows = f"(select *, {', '.join(windows)} from ({ds.sql}) as d)" if windows else f"({ds.sql})"
    return Predicate(f"select count(*), {', '.join(counts)} from {rows} as d", tuple(params))


@dataclass(frozen=True)
class Counted:
    """One suite judged in SQL: its rows, and per check (rows in its domain, rows unexpected)."""

    rows: int
    per_check: tuple[tuple[int, int], ...]

    @property
    def passed(self) -> bool:
        return all(bad == 0 for _, bad in self.per_check)


def count(con: Any, ds: Dataset) -> Counted | None:
    """The suite's counts, or None when GX must judge it (a check not translated, or a query error: GX
    then reports the error as the suite's failure, in its words)."""
    import duckdb

    try:
        query = verdict_query(ds)
        row = con.execute(query.sql, list(query.params)).fetchall()[0]
    except (NotTranslated, duckdb.Error):
        return None
    pairs = row[1:]
    return Counted(row[0], tuple((pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)))
