"""The gate counts every check in SQL first and lets GX judge only suites with an unexpected row, so a
translated check must find exactly the rows GX finds: fewer would let bad data through unseen. Every kind
of check the suites use, on rows built to hit its edges (nulls, strict bounds, a row condition, copies),
is judged by both here and the counts compared, check by check."""

from __future__ import annotations

import datetime as dt

import duckdb

from expectations import runner, sql_checks
from expectations.suites import (
    Check,
    Dataset,
    at_least,
    between,
    equal,
    in_set,
    is_null,
    not_null,
    unique,
)

ROWS = """
select * from (values
    (1, 'a',  'open',    cast(1.00 as decimal(18, 2)), cast(1.00 as decimal(18, 2)),
     timestamptz '2020-01-01 00:00:00+00', 'x', 1, 'touch', '2026-01', null),
    (2, 'a',  'closed',  0.00, null, timestamptz '2009-12-31 23:59:59+00', 'x', 1, 'touch', '2026-13', null),
    (3, null, 'EXPLODED', -0.01, -0.01, null, null, null, 'touch', null, 'bad'),
    (4, 'b',  null,      5.00, 4.99, timestamptz '2010-01-01 00:00:00+00', 'y', 3, 'other', '2026-12', null),
    (5, 'c',  'open',    null, null, timestamptz '2030-01-01 00:00:00+00', 'y', 2, 'touch', '2026-1', null),
    (6, 'c',  'open',    2.00, 3.00, timestamptz '2020-01-01 00:00:00+00', null, 5, 'other', '2026-02', null)
) as t(id, code, status, amount, other_amount, happened_at, label, n, kind, month, note)
"""

CHECKS = (
    not_null("code"),
    is_null("note"),
    in_set("status", ("open", "closed")),
    in_set("n", (1,), row_condition=("kind", "touch")),
    between("amount", 0),
    between("amount", 0, 2),
    between("amount", 0, strict_min=True),
    between("n", 1, 3, strict_max=True),
    between("happened_at", dt.datetime(2010, 1, 1, tzinfo=dt.UTC)),
    at_least("amount", "other_amount"),
    at_least("n", "id", row_condition=("kind", "touch")),
    equal("amount", "other_amount"),
    unique("code"),
    unique("label", "n"),
    Check("ExpectColumnValuesToMatchRegex", {"column": "month", "regex": r"^\d{4}-(?:0[1-9]|1[0-2])$"}),
)


def test_each_check_counted_in_sql_finds_the_rows_gx_finds(data_dir):
    ds = Dataset("edges", "raw", "edges", ROWS, ("id",), CHECKS)
    con = duckdb.connect()
    try:
        counted = sql_checks.count(con, ds)
        result = runner.Result("edges-run", "raw", dt.datetime.now(dt.UTC))
        by_gx = runner.run_gx(result, [(ds, runner.frames(con, ds))])
    finally:
        con.close()
    assert counted is not None, "a check the suites use is not translated to SQL"
    assert counted.rows == result.rows == 6
    # GX orders its verdicts its own way: compared as lists sorted by what each check is and what it found
    gx_found = sorted((o.expectation, o.column, o.elements, o.observed) for o in by_gx)
    sql_found = sorted(
        (sql_checks.gx_type(c.expectation), ", ".join(sql_checks.columns_of(c)), elements,
         f"{bad} of {elements} rows unexpected")
        for c, (elements, bad) in zip(CHECKS, counted.per_check, strict=True)
    )  # fmt: skip
    assert sql_found == gx_found
    assert all(bad for _, bad in counted.per_check)  # every check meets a bad row: the comparison means something


def test_a_clean_suite_is_recorded_as_gx_words_it_without_gx(data_dir):
    ds = Dataset("clean", "raw", "clean", "select 1 as id, 'open' as status", ("id",),
                 (in_set("status", ("open",), "allowed values"), not_null("id")))  # fmt: skip
    con = duckdb.connect()
    try:
        counted = sql_checks.count(con, ds)
    finally:
        con.close()
    assert counted.passed
    outcomes = runner.passing(ds, counted)
    assert [(o.expectation, o.column, o.observed, o.description) for o in outcomes] == [
        ("expect_column_values_to_be_in_set", "status", "0 of 1 rows unexpected", "allowed values"),
        ("expect_column_values_to_not_be_null", "id", "0 of 1 rows unexpected", None),
    ]
    assert not (data_dir / "gx").exists()


def test_a_check_without_sql_goes_to_gx():
    ds = Dataset("other", "raw", "other", "select 1 as id", ("id",),
                 (Check("ExpectColumnValuesToBeIncreasing", {"column": "id"}), not_null("id")))  # fmt: skip
    assert sql_checks.count(duckdb.connect(), ds) is None
    mostly = Dataset("mostly", "raw", "mostly", "select 1 as id", ("id",),
                     (Check("ExpectColumnValuesToNotBeNull", {"column": "id", "mostly": 0.5}),))  # fmt: skip
    assert sql_checks.count(duckdb.connect(), mostly) is None


# Suites counted at once run on cursors, which do not inherit the connection's settings: each must set the
# session's time zone itself, or a month would be cut in the host's zone. Run where the host's zone is Chicago.
IN_CHICAGO = """
import duckdb
from expectations import runner
from expectations.suites import Dataset, in_set

month = "select strftime(timestamptz '2026-03-01 03:00:00+00', '%Y-%m') as month"  # 2026-02 in Chicago
suites = [Dataset(f"s{i}", "raw", f"s{i}", month, ("month",), (in_set("month", ("2026-03",)),)) for i in range(4)]
con = duckdb.connect()
con.execute(runner.SESSION_SQL)
print([c.per_check for c in runner.count_suites(con, suites).values()])
"""


def test_suites_counted_at_once_are_counted_in_utc_whatever_the_host_zone():
    import os
    import subprocess
    import sys

    env = {**os.environ, "TZ": "America/Chicago"}
    out = subprocess.run([sys.executable, "-c", IN_CHICAGO], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str([((1, 0),)] * 4)
