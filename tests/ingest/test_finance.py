"""Finance inputs (§11): strict validation with precise errors, exact decimals, all-or-nothing loads."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest import finance
from ingest.finance import (
    SPECS,
    SPECS_BY_FILE,
    FinanceInputError,
    finance_inputs_dir,
    fingerprint_finance_inputs,
    last_loaded_fingerprint,
    load_finance_inputs,
    validate_file,
)
from sandbox.simulate import generate

TABLES = [s.table for s in SPECS]


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sandbox_finance(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny-1"
    generate("tiny", 1, out)
    return out / "finance"


@pytest.fixture
def inputs(sandbox_finance, tmp_path) -> Path:
    """A private copy of the sandbox's finance files that a test may break."""
    return Path(shutil.copytree(sandbox_finance, tmp_path / "finance"))


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def con(db_path):
    c = duckdb.connect(str(db_path))
    yield c
    c.close()


# ----------------------------------------------------------------------------------------------- helpers


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def set_cell(path: Path, line: int, column: str, value: str) -> None:
    """Line is 1-based like the error messages (header = line 1)."""
    rows = read_rows(path)
    rows[line - 1][rows[0].index(column)] = value
    write_rows(path, rows)


def append_line(path: Path, raw: str) -> int:
    """Append one raw text line; returns its line number."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + raw + "\n", encoding="utf-8")
    return text.count("\n") + 1


def data_lines(path: Path) -> int:
    return len(read_rows(path)) - 1


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    snap = {t: con.execute(f"SELECT * FROM raw_finance.{t} ORDER BY ALL").fetchall() for t in TABLES}
    snap["ops"] = con.execute("SELECT * FROM ops.finance_loads ORDER BY ALL").fetchall()
    return snap


def problems_of(excinfo: pytest.ExceptionInfo[FinanceInputError]) -> list[str]:
    return excinfo.value.problems


def assert_reported(problems: list[str], expected: str) -> None:
    """`expected` is the whole problem line or its beginning (a hint may follow)."""
    assert any(p == expected or p.startswith(expected + " ") for p in problems), (expected, problems)


# ----------------------------------------------------------------------------------------------- good inputs


def test_sandbox_files_load_with_exact_values_and_types(con, inputs):
    result = load_finance_inputs(con, inputs)

    assert result["status"] == "loaded"
    for spec in SPECS:
        path = inputs / spec.file
        csv_rows = read_rows(path)
        header, body = csv_rows[0], csv_rows[1:]
        assert result["files"][spec.file]["rows"] == len(body) > 0
        db = con.execute(
            f"SELECT {', '.join(header)}, source_line FROM raw_finance.{spec.table} ORDER BY source_line"
        ).fetchall()
        assert [r[-1] for r in db] == list(range(2, len(body) + 2))
        # Every value round-trips exactly: decimals compare as Decimal built from the CSV text.
        for csv_row, db_row in zip(body, db, strict=True):
            for name, text, value in zip(header, csv_row, db_row, strict=False):
                kind = next(c.kind for c in spec.columns if c.name == name)
                if text == "":
                    assert value is None
                elif kind == "decimal":
                    assert isinstance(value, Decimal) and value == Decimal(text), (spec.file, name, text, value)
                elif kind == "date":
                    assert value == date.fromisoformat(text)
                else:
                    assert value == text

    types = dict(
        con.execute(
            """SELECT table_name || '.' || column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'raw_finance'"""
        ).fetchall()
    )
    assert types["cs_costs.amount"] == "DECIMAL(18,2)"
    assert types["cs_costs.month"] == "VARCHAR"
    assert types["product_costs.unit_cost"] == "DECIMAL(18,4)"
    assert types["product_costs.valid_from"] == "DATE"
    assert types["fx_rates.rate_to_reporting"] == "DECIMAL(18,8)"
    assert types["cs_settings.value"] == "DECIMAL(9,6)"
    assert types["agent_coupons.valid_to"] == "DATE"

    # Sums stay exact in the warehouse (a float sum of these would drift).
    amounts = [Decimal(r[2]) for r in read_rows(inputs / "cs_costs.csv")[1:]]
    assert con.execute("SELECT sum(amount) FROM raw_finance.cs_costs").fetchall()[0][0] == sum(amounts)

    log = con.execute('SELECT "file", sha256, "rows", status FROM ops.finance_loads ORDER BY "file"').fetchall()
    assert log == sorted(
        (s.file, hashlib.sha256((inputs / s.file).read_bytes()).hexdigest(), data_lines(inputs / s.file), "loaded")
        for s in SPECS
    )


def test_values_float_cannot_hold_stay_exact(con, inputs):
    write_rows(
        inputs / "fx_rates.csv",
        [["month", "currency", "rate_to_reporting"], ["2026-01", "CAD", "0.1"], ["2026-01", "EUR", "0.2"]],
    )
    write_rows(
        inputs / "cs_costs.csv",
        [
            ["month", "cost_type", "amount", "currency", "note"],
            ["2026-01", "other", "0.10", "USD", "a"],
            ["2026-01", "other", "0.20", "USD", "b"],
            ["2026-01", "other", "-0.05", "USD", "credit note"],
            ["2026-01", "staffing", "9999999999999999.99", "USD", ""],
        ],
    )
    load_finance_inputs(con, inputs)
    assert con.execute("SELECT sum(rate_to_reporting) FROM raw_finance.fx_rates").fetchall() == [(Decimal("0.3"),)]
    rows = con.execute("SELECT amount, note FROM raw_finance.cs_costs ORDER BY source_line").fetchall()
    assert rows == [
        (Decimal("0.10"), "a"),
        (Decimal("0.20"), "b"),
        (Decimal("-0.05"), "credit note"),
        (Decimal("9999999999999999.99"), None),
    ]


def test_validate_file_returns_typed_rows(inputs):
    rows = validate_file(inputs / "agent_coupons.csv", SPECS_BY_FILE["agent_coupons.csv"])
    csv_rows = read_rows(inputs / "agent_coupons.csv")[1:]
    assert [r["code"] for r in rows] == [r[0] for r in csv_rows]
    assert [r["valid_to"] for r in rows] == [date.fromisoformat(r[3]) if r[3] else None for r in csv_rows]
    assert any(r["valid_to"] is None for r in rows) and any(r["valid_to"] is not None for r in rows)
    settings = validate_file(inputs / "cs_settings.csv", SPECS_BY_FILE["cs_settings.csv"])
    assert [type(r["value"]) for r in settings] == [Decimal] * len(settings)
    assert [str(r["value"]) for r in settings] == [r[1] for r in read_rows(inputs / "cs_settings.csv")[1:]]


def test_bom_crlf_column_order_and_trailing_blank_lines_are_accepted(con, inputs, tmp_path):
    rows = read_rows(inputs / "product_costs.csv")
    order = [2, 0, 3, 1]  # unit_cost, sku, currency, valid_from
    text = "\r\n".join(",".join(r[i] for i in order) for r in rows) + "\r\n\r\n"
    (inputs / "product_costs.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

    load_finance_inputs(con, inputs)

    db = con.execute("SELECT sku, valid_from, unit_cost, currency FROM raw_finance.product_costs ORDER BY source_line")
    expected = [(r[0], date.fromisoformat(r[1]), Decimal(r[2]), r[3]) for r in rows[1:]]
    assert db.fetchall() == expected


def test_surrounding_spaces_are_trimmed_not_kept(con, inputs):
    set_cell(inputs / "cs_costs.csv", 2, "amount", " 504.00 ")
    set_cell(inputs / "cs_costs.csv", 2, "note", " agent salaries ")
    load_finance_inputs(con, inputs)
    row = con.execute("SELECT amount, note FROM raw_finance.cs_costs WHERE source_line = 2").fetchall()
    assert row == [(Decimal("504.00"), "agent salaries")]


def test_missing_cs_settings_loads_an_empty_table(con, inputs):
    (inputs / "cs_settings.csv").unlink()

    result = load_finance_inputs(con, inputs)

    assert result["files"]["cs_settings.csv"] == {"sha256": None, "rows": 0, "status": "absent"}
    assert con.execute("SELECT count(*) FROM raw_finance.cs_settings").fetchall() == [(0,)]
    assert con.execute(
        """SELECT sha256, "rows", status FROM ops.finance_loads WHERE "file" = 'cs_settings.csv'"""
    ).fetchall() == [(None, 0, "absent")]
    assert load_finance_inputs(con, inputs)["status"] == "unchanged"


def test_load_persists_in_the_duckdb_file(db_path, inputs):
    with duckdb.connect(str(db_path)) as c:
        load_finance_inputs(c, inputs)
    with duckdb.connect(str(db_path)) as c:
        counts = {t: c.execute(f"SELECT count(*) FROM raw_finance.{t}").fetchall()[0][0] for t in TABLES}
    assert counts == {s.table: data_lines(inputs / s.file) for s in SPECS}


# ----------------------------------------------------------------------------------------------- reloads


def test_reload_of_unchanged_files_is_a_noop(con, inputs):
    first = load_finance_inputs(con, inputs)
    before = snapshot(con)

    again = load_finance_inputs(con, inputs)

    assert again["status"] == "unchanged"
    assert again["loaded_at"] == first["loaded_at"]
    assert snapshot(con) == before
    assert len(before["ops"]) == len(SPECS)


def test_changed_file_reloads_everything_and_logs_a_new_load(con, inputs):
    load_finance_inputs(con, inputs)
    set_cell(inputs / "fx_rates.csv", 2, "rate_to_reporting", "0.70000001")

    result = load_finance_inputs(con, inputs)

    assert result["status"] == "loaded"
    rate = con.execute("SELECT rate_to_reporting FROM raw_finance.fx_rates WHERE source_line = 2").fetchall()
    assert rate == [(Decimal("0.70000001"),)]
    loads = con.execute("SELECT count(DISTINCT loaded_at), count(*) FROM ops.finance_loads").fetchall()
    assert loads == [(2, 2 * len(SPECS))]
    assert last_loaded_fingerprint(con) == fingerprint_finance_inputs(inputs)


def test_dropped_table_forces_a_reload_even_if_files_are_unchanged(con, inputs):
    load_finance_inputs(con, inputs)
    con.execute("DROP TABLE raw_finance.fx_rates")

    assert load_finance_inputs(con, inputs)["status"] == "loaded"
    count = con.execute("SELECT count(*) FROM raw_finance.fx_rates").fetchall()[0][0]
    assert count == data_lines(inputs / "fx_rates.csv")


def test_fingerprint_is_sha256_per_declared_file(inputs):
    (inputs / "notes.txt").write_text("not a finance input")
    fp = fingerprint_finance_inputs(inputs)
    assert fp == {s.file: hashlib.sha256((inputs / s.file).read_bytes()).hexdigest() for s in SPECS}

    (inputs / "cs_settings.csv").unlink()
    set_cell(inputs / "fx_rates.csv", 2, "rate_to_reporting", "0.5")
    changed = fingerprint_finance_inputs(inputs)
    assert changed["cs_settings.csv"] is None
    assert changed["fx_rates.csv"] != fp["fx_rates.csv"]
    assert changed["cs_costs.csv"] == fp["cs_costs.csv"]


def test_finance_inputs_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FINANCE_INPUTS_DIR", raising=False)
    with pytest.raises(RuntimeError, match="FINANCE_INPUTS_DIR is not set"):
        finance_inputs_dir()
    monkeypatch.setenv("FINANCE_INPUTS_DIR", str(tmp_path))
    assert finance_inputs_dir() == tmp_path


# ----------------------------------------------------------------------------------------------- bad inputs

Mutation = Callable[[Path], str]  # breaks the folder, returns the expected problem (or its beginning)


def _cell(file: str, line: int, column: str, value: str, problem: str) -> Mutation:
    def mutate(folder: Path) -> str:
        set_cell(folder / file, line, column, value)
        return f"{file} line {line}, column {column}: {value!r} {problem}"

    return mutate


def _drop_column(folder: Path) -> str:
    rows = read_rows(folder / "cs_costs.csv")
    write_rows(folder / "cs_costs.csv", [r[:3] + r[4:] for r in rows])  # without `currency`
    return "cs_costs.csv line 1: missing column 'currency'"


def _extra_column(folder: Path) -> str:
    rows = read_rows(folder / "cs_costs.csv")
    write_rows(folder / "cs_costs.csv", [[*rows[0], "approved_by"]] + [[*r, "x"] for r in rows[1:]])
    expected = "month, cost_type, amount, currency, note"
    return f"cs_costs.csv line 1, column approved_by: unknown column (expected: {expected})"


def _renamed_column(folder: Path) -> str:
    rows = read_rows(folder / "fx_rates.csv")
    rows[0][2] = "rate"
    write_rows(folder / "fx_rates.csv", rows)
    return "fx_rates.csv line 1: missing column 'rate_to_reporting'"


def _duplicated_header(folder: Path) -> str:
    rows = read_rows(folder / "cs_costs.csv")
    write_rows(folder / "cs_costs.csv", [[*rows[0], "note"]] + [[*r, ""] for r in rows[1:]])
    return "cs_costs.csv line 1, column note: duplicated column header"


def _duplicate_product_cost(folder: Path) -> str:
    rows = read_rows(folder / "product_costs.csv")
    line = append_line(folder / "product_costs.csv", ",".join([*rows[1][:2], "99.00", "USD"]))
    key = f"{rows[1][0]}, {rows[1][1]}"
    return f"product_costs.csv line {line}, column sku+valid_from: duplicate key ({key}), first seen on line 2"


def _duplicate_coupon_other_case(folder: Path) -> str:
    rows = read_rows(folder / "agent_coupons.csv")
    code, _, valid_from, _ = rows[1]
    line = append_line(folder / "agent_coupons.csv", f"{code.lower()},someone@acmeboxes.example,{valid_from},")
    key = f"{code.lower()}, {valid_from}"
    return f"agent_coupons.csv line {line}, column code+valid_from: duplicate key ({key}), first seen on line 2"


def _duplicate_cost_line(folder: Path) -> str:
    rows = read_rows(folder / "cs_costs.csv")
    line = append_line(folder / "cs_costs.csv", ",".join(rows[1]))
    key = ", ".join(rows[1][i] for i in (0, 1, 4))
    return f"cs_costs.csv line {line}, column month+cost_type+note: duplicate key ({key}), first seen on line 2"


def _duplicate_cost_without_note(folder: Path) -> str:
    first = append_line(folder / "cs_costs.csv", "2030-01,staffing,1.00,USD,")
    line = append_line(folder / "cs_costs.csv", "2030-01,staffing,2.00,USD,")
    return (
        f"cs_costs.csv line {line}, column month+cost_type+note: duplicate key (2030-01, staffing, ),"
        f" first seen on line {first}"
    )


def _short_row(folder: Path) -> str:
    line = append_line(folder / "cs_costs.csv", "2030-01,staffing,1.00")
    return f"cs_costs.csv line {line}: has 3 fields, but the header has 5"


def _unquoted_decimal_comma(folder: Path) -> str:
    line = append_line(folder / "product_costs.csv", "BOX-NEW,2026-01-01,12,50,USD")
    return f"product_costs.csv line {line}: has 5 fields, but the header has 4"


def _broken_quoting(folder: Path) -> str:
    line = append_line(folder / "cs_costs.csv", '2030-01,staffing,"1.00"x,USD,')
    return f"cs_costs.csv line {line}: not valid CSV"


def _not_utf8(folder: Path) -> str:
    path = folder / "cs_costs.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2] + "é".encode("cp1252")
    path.write_bytes(b"\n".join(lines))
    return "cs_costs.csv line 3: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def _missing_required_file(folder: Path) -> str:
    (folder / "fx_rates.csv").unlink()
    return f"fx_rates.csv: required file is missing from {folder}"


def _empty_file(folder: Path) -> str:
    (folder / "agent_coupons.csv").write_bytes(b"")
    return "agent_coupons.csv: file is empty: a header row is required"


def _empty_required_value(folder: Path) -> str:
    set_cell(folder / "cs_costs.csv", 4, "amount", "")
    return "cs_costs.csv line 4, column amount: empty value, but the column is required"


BAD_CASES: dict[str, Mutation] = {
    "decimal comma": _cell("product_costs.csv", 7, "unit_cost", "12,50", "is not a decimal number"),
    "exponent": _cell("product_costs.csv", 7, "unit_cost", "1e3", "is not a decimal number"),
    "thousands separator": _cell("cs_costs.csv", 2, "amount", "1,504.00", "is not a decimal number"),
    "NaN": _cell("cs_costs.csv", 3, "amount", "NaN", "is not a decimal number"),
    "infinity": _cell("fx_rates.csv", 3, "rate_to_reporting", "inf", "is not a decimal number"),
    "currency symbol": _cell("cs_costs.csv", 3, "amount", "$314.40", "is not a decimal number"),
    "sub-cent amount": _cell("cs_costs.csv", 5, "amount", "12.345", "has more than 2 decimal places"),
    "negative unit cost": _cell("product_costs.csv", 3, "unit_cost", "-1.00", "must not be less than 0"),
    "month 13 date": _cell("product_costs.csv", 4, "valid_from", "2026-13-01", "is not a valid calendar date"),
    "day 31 of 30": _cell("agent_coupons.csv", 2, "valid_from", "2025-09-31", "is not a valid calendar date"),
    "US date": _cell("product_costs.csv", 4, "valid_from", "01/05/2026", "is not a date in the form YYYY-MM-DD"),
    "compact date": _cell("agent_coupons.csv", 3, "valid_from", "20251003", "is not a date in the form YYYY-MM-DD"),
    "month 13": _cell("cs_costs.csv", 6, "month", "2026-13", "is not a month in the form YYYY-MM"),
    "month one digit": _cell("fx_rates.csv", 2, "month", "2026-1", "is not a month in the form YYYY-MM"),
    "month with day": _cell("fx_rates.csv", 2, "month", "2026-01-01", "is not a month in the form YYYY-MM"),
    "unknown cost_type": _cell(
        "cs_costs.csv",
        3,
        "cost_type",
        "salaries",
        "is not a known cost_type (expected one of: staffing, platform, other)",
    ),
    "lower-case currency": _cell("cs_costs.csv", 2, "currency", "usd", "is not an ISO 4217 currency code"),
    "currency name": _cell("product_costs.csv", 2, "currency", "Dollar", "is not an ISO 4217 currency code"),
    "zero fx rate": _cell("fx_rates.csv", 3, "rate_to_reporting", "0", "must be greater than 0"),
    "negative fx rate": _cell("fx_rates.csv", 4, "rate_to_reporting", "-0.73", "must be greater than 0"),
    "valid_to before valid_from": _cell("agent_coupons.csv", 5, "valid_to", "2025-10-02", "is before valid_from"),
    "unknown setting": _cell("cs_settings.csv", 2, "setting", "refund_rate", "is not a known setting"),
    "refund share above 1": _cell("cs_settings.csv", 3, "value", "1.5", "is out of range for refund_share"),
    "missing column": _drop_column,
    "renamed column": _renamed_column,
    "extra column": _extra_column,
    "duplicated header": _duplicated_header,
    "duplicate product cost": _duplicate_product_cost,
    "duplicate coupon, other case": _duplicate_coupon_other_case,
    "duplicate cost line": _duplicate_cost_line,
    "duplicate cost without note": _duplicate_cost_without_note,
    "too few fields": _short_row,
    "unquoted decimal comma": _unquoted_decimal_comma,
    "broken quoting": _broken_quoting,
    "not UTF-8": _not_utf8,
    "missing required file": _missing_required_file,
    "empty file": _empty_file,
    "empty required value": _empty_required_value,
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_rejected_naming_file_line_column_and_value(con, inputs, case):
    expected = BAD_CASES[case](inputs)

    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)

    assert_reported(problems_of(excinfo), expected)
    assert expected.split(":")[0] in str(excinfo.value)
    # Nothing was created on a first load that failed.
    assert con.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('raw_finance', 'ops')"
    ).fetchall() == [(0,)]


def test_validate_file_raises_with_the_documented_message(inputs):
    set_cell(inputs / "product_costs.csv", 7, "unit_cost", "12,50")
    with pytest.raises(FinanceInputError) as excinfo:
        validate_file(inputs / "product_costs.csv", SPECS_BY_FILE["product_costs.csv"])
    [problem] = problems_of(excinfo)
    assert problem.startswith("product_costs.csv line 7, column unit_cost: '12,50' is not a decimal number")


def test_every_problem_of_every_file_is_reported_at_once(con, inputs):
    set_cell(inputs / "product_costs.csv", 3, "unit_cost", "1e3")
    set_cell(inputs / "product_costs.csv", 5, "valid_from", "2026-02-30")
    set_cell(inputs / "product_costs.csv", 5, "currency", "usd")  # two problems on one line
    set_cell(inputs / "fx_rates.csv", 4, "rate_to_reporting", "0")
    set_cell(inputs / "agent_coupons.csv", 5, "valid_to", "2024-01-01")

    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)

    problems = problems_of(excinfo)
    assert [p.split(":")[0] for p in problems] == [
        "product_costs.csv line 3, column unit_cost",
        "product_costs.csv line 5, column valid_from",
        "product_costs.csv line 5, column currency",
        "agent_coupons.csv line 5, column valid_to",
        "fx_rates.csv line 4, column rate_to_reporting",
    ]


def test_problem_list_is_capped_per_file(inputs):
    for line in range(2, 42):
        set_cell(inputs / "product_costs.csv", line, "unit_cost", "n/a")
    with pytest.raises(FinanceInputError) as excinfo:
        validate_file(inputs / "product_costs.csv", SPECS_BY_FILE["product_costs.csv"])
    problems = problems_of(excinfo)
    assert len(problems) == finance.MAX_PROBLEMS_PER_FILE + 1
    assert problems[0].startswith("product_costs.csv line 2, column unit_cost: 'n/a' is not a decimal number")
    assert problems[-1] == f"product_costs.csv: ... and {40 - finance.MAX_PROBLEMS_PER_FILE} more problems"


# ----------------------------------------------------------------------------------------------- all or nothing


def test_bad_file_leaves_the_previous_good_load_untouched(con, inputs):
    load_finance_inputs(con, inputs)
    good = snapshot(con)
    good_fingerprint = last_loaded_fingerprint(con)
    assert {t: len(good[t]) for t in TABLES} == {s.table: data_lines(inputs / s.file) for s in SPECS}

    # One valid change that would alter a table, one invalid file: neither may land.
    set_cell(inputs / "cs_costs.csv", 2, "amount", "999.99")
    set_cell(inputs / "fx_rates.csv", 3, "rate_to_reporting", "-0.72")
    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)
    assert_reported(
        problems_of(excinfo), "fx_rates.csv line 3, column rate_to_reporting: '-0.72' must be greater than 0"
    )

    assert snapshot(con) == good  # every table's rows and values, and ops.finance_loads
    assert con.execute("SELECT count(*) FROM raw_finance.cs_costs WHERE amount = 999.99").fetchall() == [(0,)]
    assert last_loaded_fingerprint(con) == good_fingerprint


def test_failure_inside_the_transaction_rolls_every_table_back(con, inputs, monkeypatch):
    load_finance_inputs(con, inputs)
    good = snapshot(con)
    set_cell(inputs / "cs_costs.csv", 2, "amount", "999.99")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(finance, "_record_loads", boom)  # after every raw table was replaced
    with pytest.raises(RuntimeError, match="disk full"):
        load_finance_inputs(con, inputs)

    assert snapshot(con) == good


# ----------------------------------------------------------------------------------------------- fx rates (§2)


def test_a_cost_in_a_currency_without_a_rate_for_its_month_is_rejected_and_the_last_good_set_stays(con, inputs):
    load_finance_inputs(con, inputs)
    good = snapshot(con)
    month = read_rows(inputs / "cs_costs.csv")[1][0]
    line = append_line(inputs / "cs_costs.csv", f"{month},other,120.00,EUR,Berlin offsite")

    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)

    assert problems_of(excinfo) == [
        f"cs_costs.csv line {line}, column currency: 'EUR' has no rate in fx_rates.csv for {month} "
        "(amounts not in USD need a rate for their month)"
    ]
    assert snapshot(con) == good  # before: the set was loaded and every later dbt build stopped on it


def test_a_rate_missing_for_one_month_of_a_foreign_cost_is_named(con, inputs):
    rates = read_rows(inputs / "fx_rates.csv")
    cad = [r for r in rates[1:] if r[1] == "CAD"]
    gone = cad[1]
    write_rows(inputs / "fx_rates.csv", [r for r in rates if r != gone])
    lines = [i for i, r in enumerate(read_rows(inputs / "cs_costs.csv"), start=1) if r[0] == gone[0] and r[3] == "CAD"]
    assert lines  # the sandbox's Toronto training cost, in CAD every month

    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)

    assert problems_of(excinfo) == [
        f"cs_costs.csv line {n}, column currency: 'CAD' has no rate in fx_rates.csv for {gone[0]} "
        "(amounts not in USD need a rate for their month)"
        for n in lines
    ]


def test_a_foreign_product_cost_needs_a_rate_from_its_first_month_through_the_currencys_last_one(con, inputs):
    write_rows(
        inputs / "fx_rates.csv",
        [*read_rows(inputs / "fx_rates.csv"), ["2026-03", "EUR", "1.1"], ["2026-05", "EUR", "1.2"]],
    )
    costs = inputs / "product_costs.csv"
    gap = append_line(costs, "MUG-EU,2026-03-15,3.5000,EUR")  # needs 2026-03, -04 and -05: -04 missing
    early = append_line(costs, "PIN-EU,2026-01-01,1.0000,EUR")  # needs -01 to -05 (until its next cost)
    append_line(costs, "PIN-EU,2026-03-01,1.2000,USD")  # ... which ends it: -01 and -02 only
    append_line(costs, "CUP-EU,2026-05-01,2.0000,EUR")  # from the last rated month: complete
    append_line(costs, "HAT-US,2019-01-01,2.0000,USD")  # the reporting currency needs no rate

    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)

    assert problems_of(excinfo) == [
        f"product_costs.csv line {gap}, column currency: 'EUR' has no rate in fx_rates.csv for 2026-04 "
        "(amounts not in USD need a rate for their month)",
        f"product_costs.csv line {early}, column currency: 'EUR' has no rate in fx_rates.csv for 2026-01, 2026-02 "
        "(amounts not in USD need a rate for their month)",
    ]

    write_rows(
        inputs / "fx_rates.csv",
        [*read_rows(inputs / "fx_rates.csv"), *[[f"2026-0{m}", "EUR", "1.0"] for m in (1, 2, 4)]],
    )
    assert load_finance_inputs(con, inputs)["status"] == "loaded"


def test_a_currency_with_no_rate_at_all_is_rejected_at_the_costs_first_month(con, inputs):
    line = append_line(inputs / "product_costs.csv", "MUG-CH,2026-02-10,3.5000,CHF")
    with pytest.raises(FinanceInputError) as excinfo:
        load_finance_inputs(con, inputs)
    assert problems_of(excinfo) == [
        f"product_costs.csv line {line}, column currency: 'CHF' has no rate in fx_rates.csv for 2026-02 "
        "(amounts not in USD need a rate for their month)"
    ]
