"""Finance inputs (business-rules §11): strict validation of the five CSV files and an all-or-nothing load.

Each file is a declaration (`FileSpec`); one generic parser checks every file against its declaration and
reports every problem with file, line, column and value, so finance can fix a file in one round trip.
A load replaces all five `raw_finance` tables in one transaction, or changes nothing at all.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

import settings
from ingest.errors import ExpectedError
from ingest.identity import FINANCE, finance_identity, record_or_refuse, write_mirror
from ingest.sql import table_exists

if TYPE_CHECKING:  # pyarrow only where a changed file is loaded: the gate and an unchanged load never import it
    import pyarrow as pa

ENV_VAR = settings.FINANCE_INPUTS_ENV
RAW_SCHEMA = "raw_finance"
OPS_TABLE = "ops.finance_loads"
MAX_PROBLEMS_PER_FILE = 20

# Statuses written to ops.finance_loads. Rejected loads write nothing (the warehouse stays untouched).
STATUS_LOADED = "loaded"
STATUS_ABSENT = "absent"  # the optional file was not supplied: its table is loaded empty

COST_TYPES = ("staffing", "platform", "other")
# Known settings and their allowed closed range; the setting enum is derived from this.
SETTING_RANGES: dict[str, tuple[Decimal, Decimal]] = {"refund_share": (Decimal(0), Decimal(1))}


class FinanceInputError(ValueError, ExpectedError):
    """One or more finance input files break the §11 contract. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("finance inputs rejected:\n  " + "\n  ".join(self.problems))


class FinanceInputsNotSet(RuntimeError, ExpectedError):
    """FINANCE_INPUTS_DIR is missing from the environment."""


# --------------------------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text | decimal | date | month | currency | enum
    required: bool = True
    precision: int = 0  # decimal only
    scale: int = 0  # decimal only
    values: tuple[str, ...] = ()  # enum only
    minimum: Decimal | None = None  # decimal only
    minimum_exclusive: bool = False
    key_casefold: bool = False  # compare case-insensitively when checking the file's key

    @property
    def duckdb_type(self) -> str:
        if self.kind == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        return "DATE" if self.kind == "date" else "VARCHAR"

    @property
    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        if self.kind == "decimal":
            return pa.decimal128(self.precision, self.scale)
        return pa.date32() if self.kind == "date" else pa.string()


def text(name: str, *, required: bool = True, key_casefold: bool = False) -> Column:
    return Column(name, "text", required=required, key_casefold=key_casefold)


def decimal(
    name: str, precision: int, scale: int, *, minimum: Decimal | int | None = None, exclusive: bool = False
) -> Column:
    low = None if minimum is None else Decimal(minimum)
    return Column(name, "decimal", precision=precision, scale=scale, minimum=low, minimum_exclusive=exclusive)


def date_col(name: str, *, required: bool = True) -> Column:
    return Column(name, "date", required=required)


def month(name: str) -> Column:
    return Column(name, "month")


def currency(name: str) -> Column:
    return Column(name, "currency")


def enum(name: str, values: Iterable[str]) -> Column:
    return Column(name, "enum", values=tuple(values))


@dataclass(frozen=True)
class Problem:
    column: str | None
    value: str | None
    message: str


# A row check sees the parsed values (columns that failed to parse are absent) and the raw strings.
RowCheck = Callable[[dict[str, Any], dict[str, str]], Iterable[Problem]]


@dataclass(frozen=True)
class FileSpec:
    file: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    row_checks: tuple[RowCheck, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def table_name(self) -> str:
        return f"{RAW_SCHEMA}.{self.table}"


def valid_to_not_before_valid_from(row: dict[str, Any], raw: dict[str, str]) -> Iterable[Problem]:
    start, end = row.get("valid_from"), row.get("valid_to")
    if start is not None and end is not None and end < start:
        yield Problem("valid_to", raw["valid_to"], f"is before valid_from {raw['valid_from']!r}")


def setting_in_range(row: dict[str, Any], raw: dict[str, str]) -> Iterable[Problem]:
    name, value = row.get("setting"), row.get("value")
    if name in SETTING_RANGES and value is not None:
        low, high = SETTING_RANGES[name]
        if not low <= value <= high:
            yield Problem("value", raw["value"], f"is out of range for {name} (must be between {low} and {high})")


SPECS: tuple[FileSpec, ...] = (
    FileSpec(
        "cs_costs.csv",
        "cs_costs",
        (
            month("month"),
            enum("cost_type", COST_TYPES),
            decimal("amount", 18, 2),  # no minimum: a credit note is a negative cost
            currency("currency"),
            text("note", required=False),
        ),
        key=("month", "cost_type", "note"),
    ),
    FileSpec(
        "product_costs.csv",
        "product_costs",
        (text("sku"), date_col("valid_from"), decimal("unit_cost", 18, 4, minimum=0), currency("currency")),
        key=("sku", "valid_from"),
    ),
    FileSpec(
        "agent_coupons.csv",
        "agent_coupons",
        (
            text("code", key_casefold=True),  # codes match case-insensitively (§11)
            text("agent_email"),
            date_col("valid_from"),
            date_col("valid_to", required=False),  # empty = open-ended
        ),
        key=("code", "valid_from"),
        row_checks=(valid_to_not_before_valid_from,),
    ),
    FileSpec(
        "fx_rates.csv",
        "fx_rates",
        (month("month"), currency("currency"), decimal("rate_to_reporting", 18, 8, minimum=0, exclusive=True)),
        key=("month", "currency"),
    ),
    FileSpec(
        "cs_settings.csv",
        "cs_settings",
        (enum("setting", SETTING_RANGES), decimal("value", 9, 6), date_col("valid_from")),
        key=("setting", "valid_from"),
        required=False,  # absent = default refund share downstream
        row_checks=(setting_in_range,),
    ),
)
SPECS_BY_FILE: dict[str, FileSpec] = {s.file: s for s in SPECS}


# --------------------------------------------------------------------------------------------- value parsing


class _Invalid(Exception):
    """A value that does not parse; the message completes "<value> ..."."""


_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_NON_FINITE = {"nan", "snan", "inf", "infinity"}


def _decimal_hint(s: str) -> str:
    bare = s.lstrip("+-").lower()
    if bare in _NON_FINITE or bare.lstrip("s") in _NON_FINITE:
        return " (NaN and infinity are not amounts)"
    if "e" in bare and re.fullmatch(r"[0-9.]+e[+-]?[0-9]+", bare):
        return " (exponent notation is not allowed: write the plain number)"
    if "," in s or " " in s or "_" in s or "'" in s:
        return " (write '.' as the decimal point and no thousands separators)"
    return ""


def _parse_decimal(s: str, col: Column) -> Decimal:
    # Only plain `-123.45` forms: Decimal() alone would accept '1e3', 'NaN', '1_000' and ' 1 '.
    if not _DECIMAL_RE.fullmatch(s):
        raise _Invalid("is not a decimal number" + _decimal_hint(s))
    whole, _, frac = s.lstrip("-").partition(".")
    if len(frac.rstrip("0")) > col.scale:
        # Storing it would round silently; money must stay exact.
        raise _Invalid(f"has more than {col.scale} decimal places")
    if len(whole.lstrip("0")) > col.precision - col.scale:
        raise _Invalid(f"is too large (at most {col.precision - col.scale} digits before the decimal point)")
    value = Decimal(s)
    if col.minimum is not None:
        if col.minimum_exclusive and value <= col.minimum:
            raise _Invalid(f"must be greater than {col.minimum}")
        if not col.minimum_exclusive and value < col.minimum:
            raise _Invalid(f"must not be less than {col.minimum}")
    return value


def _parse_date(s: str, col: Column) -> date:
    # date.fromisoformat alone would also take '20260101' and week dates: insist on YYYY-MM-DD.
    if not _DATE_RE.fullmatch(s):
        raise _Invalid("is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise _Invalid("is not a valid calendar date (YYYY-MM-DD)") from None


def _parse_month(s: str, col: Column) -> str:
    m = _MONTH_RE.fullmatch(s)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) == 0:
        raise _Invalid("is not a month in the form YYYY-MM")
    return s


def _parse_currency(s: str, col: Column) -> str:
    if not _CURRENCY_RE.fullmatch(s):
        raise _Invalid("is not an ISO 4217 currency code (3 upper-case letters, e.g. USD)")
    return s


def _parse_enum(s: str, col: Column) -> str:
    if s not in col.values:
        raise _Invalid(f"is not a known {col.name} (expected one of: {', '.join(col.values)})")
    return s


def _parse_text(s: str, col: Column) -> str:
    return s


_PARSERS: dict[str, Callable[[str, Column], Any]] = {
    "text": _parse_text,
    "decimal": _parse_decimal,
    "date": _parse_date,
    "month": _parse_month,
    "currency": _parse_currency,
    "enum": _parse_enum,
}


# --------------------------------------------------------------------------------------------- file parsing


class _Problems:
    """Formats and caps the problems of one file (the count stays exact beyond the cap)."""

    def __init__(self, file: str):
        self.file = file
        self.lines: list[str] = []
        self.count = 0

    def add(self, line: int | None, column: str | None = None, value: str | None = None, message: str = "") -> None:
        self.count += 1
        if len(self.lines) >= MAX_PROBLEMS_PER_FILE:
            return
        where = self.file if line is None else f"{self.file} line {line}"
        if column is not None:
            where += f", column {column}"
        self.lines.append(f"{where}: {message}" if value is None else f"{where}: {value!r} {message}")

    def summary(self) -> list[str]:
        extra = self.count - len(self.lines)
        return self.lines + ([f"{self.file}: ... and {extra} more problems"] if extra > 0 else [])


def _decode(data: bytes, problems: _Problems) -> str | None:
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body[: e.start].count(b"\n") + 1
        bad = body[e.start : e.end]
        problems.add(line, message=f"not valid UTF-8 (byte 0x{bad.hex()}); save the file as UTF-8")
        return None


def _check_header(header: list[str], spec: FileSpec, problems: _Problems) -> dict[str, int] | None:
    """Column name -> position, or None when the header is unusable."""
    names = [h.strip() for h in header]
    positions: dict[str, int] = {}
    before = problems.count
    for i, name in enumerate(names):
        if name in positions:
            problems.add(1, name, message="duplicated column header")
        elif name not in spec.column_names:
            expected = ", ".join(spec.column_names)
            problems.add(1, name or f"#{i + 1}", message=f"unknown column (expected: {expected})")
        positions.setdefault(name, i)
    for name in spec.column_names:
        if name not in positions:
            problems.add(1, message=f"missing column {name!r}")
    return None if problems.count > before else positions


def _parse_row(
    values: list[str], line: int, spec: FileSpec, positions: dict[str, int], problems: _Problems
) -> tuple[dict[str, Any], bool]:
    """Typed row (failed columns left out) and whether every column parsed."""
    row: dict[str, Any] = {}
    raw = {c.name: values[positions[c.name]].strip() for c in spec.columns}
    ok = True
    for col in spec.columns:
        s = raw[col.name]
        if s == "":
            if col.required:
                problems.add(line, col.name, message="empty value, but the column is required")
                ok = False
            else:
                row[col.name] = None
            continue
        try:
            row[col.name] = _PARSERS[col.kind](s, col)
        except _Invalid as e:
            problems.add(line, col.name, s, str(e))
            ok = False
    for check in spec.row_checks:
        for p in check(row, raw):
            problems.add(line, p.column, p.value, p.message)
            ok = False
    return row, ok


def _key_of(row: dict[str, Any], spec: FileSpec) -> tuple:
    cols = {c.name: c for c in spec.columns}
    return tuple(row[k].lower() if cols[k].key_casefold and isinstance(row[k], str) else row[k] for k in spec.key)


def _parse_csv(data: bytes, spec: FileSpec, problems: _Problems) -> tuple[list[dict[str, Any]], list[int]]:
    """Typed rows and their 1-based line numbers; every problem goes to `problems`."""
    text_ = _decode(data, problems)
    if text_ is None:
        return [], []
    reader = csv.reader(io.StringIO(text_, newline=""), strict=True)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    seen: dict[tuple, int] = {}
    positions: dict[str, int] | None = None
    while True:
        line = reader.line_num + 1  # where the next record starts (a quoted field may span lines)
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            problems.add(line, message=f"not valid CSV ({e})")
            break
        if positions is None:
            positions = _check_header(values, spec, problems)
            if positions is None:
                break  # row problems against a wrong header would only be noise
            continue
        if not values:
            continue  # a blank line is not a record (trailing newlines from spreadsheets)
        if len(values) != len(positions):
            problems.add(line, message=f"has {len(values)} fields, but the header has {len(positions)}")
            continue
        row, ok = _parse_row(values, line, spec, positions, problems)
        if not ok:
            continue
        key = _key_of(row, spec)
        if key in seen:
            shown = ", ".join("" if row[k] is None else str(row[k]) for k in spec.key)
            problems.add(line, "+".join(spec.key), message=f"duplicate key ({shown}), first seen on line {seen[key]}")
            continue
        seen[key] = line
        rows.append(row)
        lines.append(line)
    if positions is None and problems.count == 0:
        problems.add(None, message="file is empty: a header row is required")
    return rows, lines


def _validate_bytes(data: bytes, spec: FileSpec) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    problems = _Problems(spec.file)
    rows, lines = _parse_csv(data, spec, problems)
    return rows, lines, problems.summary()


def validate_file(path: str | os.PathLike[str], spec: FileSpec) -> list[dict[str, Any]]:
    """Parse one finance input against its declaration; typed rows, or FinanceInputError naming every problem."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FinanceInputError([f"{spec.file}: file not found at {path}"]) from None
    rows, _, problems = _validate_bytes(data, spec)
    if problems:
        raise FinanceInputError(problems)
    return rows


# --------------------------------------------------------------------------------------------- folder helpers


def finance_inputs_dir() -> Path:
    """The folder named by FINANCE_INPUTS_DIR."""
    value = settings.finance_inputs_value()
    if not value:
        files = ", ".join(s.file for s in SPECS)
        raise FinanceInputsNotSet(f"{ENV_VAR} is not set: point it at the folder holding the finance inputs ({files})")
    return Path(value)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint_finance_inputs(folder: str | os.PathLike[str]) -> dict[str, str | None]:
    """sha256 of each declared file (None when absent); compare with `last_loaded_fingerprint` to detect change."""
    folder = Path(folder)
    return {s.file: _sha256(p.read_bytes()) if (p := folder / s.file).is_file() else None for s in SPECS}


def last_loaded_fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, str | None] | None:
    """File -> sha256 of the last successful load (None per absent file), or None if nothing was ever loaded."""
    if not table_exists(con, "ops", "finance_loads"):
        return None
    rows = con.execute(
        f"""SELECT "file", sha256 FROM {OPS_TABLE}
            WHERE loaded_at = (SELECT max(loaded_at) FROM {OPS_TABLE} WHERE status IN (?, ?))""",
        [STATUS_LOADED, STATUS_ABSENT],
    ).fetchall()
    return {file: sha for file, sha in rows} or None


# --------------------------------------------------------------------------------------------- loading


@dataclass
class _Parsed:
    spec: FileSpec
    sha256: str | None
    rows: list[dict[str, Any]]
    lines: list[int]


def reporting_currency() -> str:
    """The marts' currency (dbt var `reporting_currency`): amounts in it need no fx rate."""
    return settings.project_vars()["reporting_currency"]


def _month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months(first: str, last: str) -> Iterable[str]:
    """YYYY-MM labels from first to last, both included."""
    y, m = int(first[:4]), int(first[5:])
    while (label := f"{y:04d}-{m:02d}") <= last:
        yield label
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def _missing_fx_rates(parsed: list[_Parsed], reporting: str) -> list[str]:
    """Amounts the models would convert without a rate (§2: a build would stop on them), one line each.

    cs_costs: every row converts at its own month's rate, so (month, currency) must have a rate; exactly
    what `int_cs_costs_converted` needs. product_costs: a cost converts at the month of each order that
    uses it, which the finance files cannot know; what they can show is a gap: the month the cost takes
    effect, and every later month up to the currency's last rate while the cost is in effect (until the
    SKU's next valid_from). Months after the last rate are for the build's `order_cogs_is_known` gate,
    which names the order, when time passes before finance posts the month's rate."""
    by_file = {p.spec.file: p for p in parsed}
    rates = {(r["month"], r["currency"]) for r in by_file["fx_rates.csv"].rows}
    last_rated: dict[str, str] = {}
    for month_, cur in rates:
        last_rated[cur] = max(month_, last_rated.get(cur, month_))
    problems: list[str] = []

    def need(file: str, line: int, cur: str, months: Iterable[str]) -> None:
        missing = [m for m in months if (m, cur) not in rates]
        if missing:
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            problems.append(
                f"{file} line {line}, column currency: {cur!r} has no rate in fx_rates.csv for {shown} "
                f"(amounts not in {reporting} need a rate for their month)"
            )

    costs = by_file["cs_costs.csv"]
    for row, line in zip(costs.rows, costs.lines, strict=True):
        if row["currency"] != reporting:
            need(costs.spec.file, line, row["currency"], [row["month"]])
    products = by_file["product_costs.csv"]
    effective = sorted(
        zip(products.rows, products.lines, strict=True), key=lambda rl: (rl[0]["sku"], rl[0]["valid_from"])
    )
    for i, (row, line) in enumerate(effective):
        cur = row["currency"]
        if cur == reporting:
            continue
        first = _month_of(row["valid_from"])
        following = effective[i + 1][0] if i + 1 < len(effective) else None
        last = last_rated.get(cur, first)
        if following is not None and following["sku"] == row["sku"]:
            last = min(last, _month_of(following["valid_from"] - timedelta(days=1)))
        need(products.spec.file, line, cur, _months(first, max(first, last)))
    return problems[:MAX_PROBLEMS_PER_FILE] + (
        [f"... and {len(problems) - MAX_PROBLEMS_PER_FILE} more missing fx rates"]
        if len(problems) > MAX_PROBLEMS_PER_FILE
        else []
    )


def _read_and_validate(folder: Path, reporting: str) -> tuple[list[_Parsed], list[str]]:
    parsed: list[_Parsed] = []
    problems: list[str] = []
    if not folder.is_dir():
        return [], [f"finance inputs folder {folder} does not exist"]
    for spec in SPECS:
        path = folder / spec.file
        if not path.is_file():
            if spec.required:
                problems.append(f"{spec.file}: required file is missing from {folder}")
            else:
                parsed.append(_Parsed(spec, None, [], []))
            continue
        # Hash and parse the same bytes, so the recorded sha256 is exactly what was loaded.
        data = path.read_bytes()
        rows, lines, file_problems = _validate_bytes(data, spec)
        problems.extend(file_problems)
        parsed.append(_Parsed(spec, _sha256(data), rows, lines))
    if not problems:  # rates are checked against files that parsed whole: otherwise only noise
        problems = _missing_fx_rates(parsed, reporting)
    return parsed, problems


def _ddl(spec: FileSpec) -> str:
    cols = [f"{c.name} {c.duckdb_type}{' NOT NULL' if c.required else ''}" for c in spec.columns]
    cols.append("source_line INTEGER NOT NULL")  # CSV line of the row: drill-down back to the file
    return f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{spec.table} ({', '.join(cols)})"


def _arrow(p: _Parsed) -> pa.Table:
    import pyarrow as pa

    arrays = {c.name: pa.array([r[c.name] for r in p.rows], type=c.arrow_type) for c in p.spec.columns}
    arrays["source_line"] = pa.array(p.lines, type=pa.int32())
    return pa.table(arrays)


def _replace_table(con: duckdb.DuckDBPyConnection, p: _Parsed) -> None:
    con.execute(_ddl(p.spec))
    if not p.rows:
        return
    view = f"_finance_{p.spec.table}_incoming"
    cols = ", ".join([*p.spec.column_names, "source_line"])
    con.register(view, _arrow(p))
    try:
        con.execute(f"INSERT INTO {RAW_SCHEMA}.{p.spec.table} ({cols}) SELECT {cols} FROM {view}")
    finally:
        con.unregister(view)


def _record_loads(con: duckdb.DuckDBPyConnection, parsed: list[_Parsed], loaded_at: datetime) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {OPS_TABLE} (
            loaded_at TIMESTAMPTZ NOT NULL, "file" VARCHAR NOT NULL, sha256 VARCHAR,
            "rows" INTEGER NOT NULL, status VARCHAR NOT NULL)"""
    )
    import pyarrow as pa

    log = pa.table(
        {
            "loaded_at": pa.array([loaded_at] * len(parsed), type=pa.timestamp("us", tz="UTC")),
            "file": [p.spec.file for p in parsed],
            "sha256": [p.sha256 for p in parsed],
            "rows": pa.array([len(p.rows) for p in parsed], type=pa.int32()),
            "status": [STATUS_LOADED if p.sha256 else STATUS_ABSENT for p in parsed],
        }
    )
    con.register("_finance_loads_incoming", log)
    try:
        con.execute(
            f'INSERT INTO {OPS_TABLE} SELECT loaded_at, "file", sha256, "rows", status FROM _finance_loads_incoming'
        )
    finally:
        con.unregister("_finance_loads_incoming")


def _summary(status: str, loaded_at: datetime | None, parsed: list[_Parsed]) -> dict[str, Any]:
    files = {
        p.spec.file: {
            "sha256": p.sha256,
            "rows": len(p.rows),
            "status": STATUS_LOADED if p.sha256 else STATUS_ABSENT,
        }
        for p in parsed
    }
    return {"status": status, "loaded_at": loaded_at, "files": files}


def load_finance_inputs(
    con: duckdb.DuckDBPyConnection, folder: str | os.PathLike[str], reporting: str | None = None
) -> dict[str, Any]:
    """Validate all five files (and that every amount not in the `reporting` currency, default the dbt
    var, has its fx rate), then replace every raw_finance table in one transaction.

    Returns {"status": "loaded" | "unchanged", "loaded_at", "files": {file: {sha256, rows, status}}}.
    Raises FinanceInputError listing every bad file's problems; the warehouse is then left untouched.
    """
    parsed, problems = _read_and_validate(Path(folder), reporting or reporting_currency())
    if problems:
        raise FinanceInputError(problems)
    # another world's costs and rates never replace these, even identical files (the next delivery may differ)
    record_or_refuse(con, FINANCE, finance_identity(folder))
    write_mirror(con)

    current = {p.spec.file: p.sha256 for p in parsed}
    tables_present = all(table_exists(con, RAW_SCHEMA, s.table) for s in SPECS)
    if tables_present and last_loaded_fingerprint(con) == current:
        last = con.execute(f"SELECT max(loaded_at) FROM {OPS_TABLE}").fetchall()[0][0]
        return _summary("unchanged", last, parsed)

    loaded_at = datetime.now(UTC)
    con.begin()
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        con.execute("CREATE SCHEMA IF NOT EXISTS ops")
        for p in parsed:
            _replace_table(con, p)
        _record_loads(con, parsed, loaded_at)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return _summary(STATUS_LOADED, loaded_at, parsed)
