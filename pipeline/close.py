"""Month-end close (business rules §9) and the finance pack.

    python -m pipeline.close close  2026-03 --by "jane@finance"
    python -m pipeline.close reopen 2026-03 --by "jane@finance" --reason "wrong cost file"
    python -m pipeline.close pack   2026-03

Closing month M copies its P&L rows (marts.cs_pnl_monthly, as built by the last `dbt build`) into
ops.cs_pnl_closed with closed_at and rule_version, and logs the act; from then on the P&L marts show
those frozen rows, and whatever later data would change them is booked by dbt as adjustment rows in
the first open month (marts.cs_pnl_adjustments). Reopening is explicit, needs a reason, is logged, and
is allowed for the latest closed month only (later closed months already carry its adjustments).
The tables are created by dbt (macro create_close_tables), so a close needs one dbt build first.

The finance pack of M (data/exports/<M>/): the P&L, campaign, agent, win-back cohort, claims and
adjustments as CSV, the same as one XLSX workbook (a sheet each) plus a reconciliation sheet of mart
totals against source totals. Written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import os
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from expectations.reconciliation import ALL, reconciliation_sql
from ingest.errors import ExpectedError, run_cli
from settings import exports_dir, warehouse_path

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# The marts' months are DATEs (the first day); ops.cs_pnl_closed and the command line say 'YYYY-MM'.
MONTH_DATE = "CAST(? || '-01' AS DATE)"
# sheet -> query of the marts for month ? (one parameter per ?)
PACK_SHEETS = {
    "pnl": "SELECT m.month, m.line, coalesce(c.amount, m.amount) AS amount, c.month IS NOT NULL AS is_closed, "
    "c.closed_at, coalesce(c.rule_version, m.rule_version) AS rule_version FROM marts.cs_pnl_monthly m "
    "LEFT JOIN ops.cs_pnl_closed c ON c.month = strftime(m.month, '%Y-%m') AND c.line = m.line "
    f"WHERE m.month = {MONTH_DATE} ORDER BY m.line_order",
    "campaigns": f"SELECT * FROM marts.campaign_performance_monthly WHERE month = {MONTH_DATE} "
    "ORDER BY campaign_priority",
    "agents": f"SELECT * FROM marts.agent_performance_monthly WHERE month = {MONTH_DATE} "
    "ORDER BY agent_email, campaign",
    "winback_cohort": f"SELECT * FROM marts.winback_cohorts WHERE renewal_month = {MONTH_DATE}",
    "claims": f"SELECT * FROM marts.carrier_claims_monthly WHERE month = {MONTH_DATE} ORDER BY carrier, claim_type",
    "adjustments": f"SELECT * FROM marts.cs_pnl_adjustments WHERE booked_month = {MONTH_DATE} "
    f"OR affects_month = {MONTH_DATE} ORDER BY affects_month, line",
}


# Beside the reconciliation to the sources: the published P&L against the one the data gives now (they differ by
# the adjustments once a month is closed).
PUBLISHED_VS_COMPUTED = (
    "published P&L net contribution vs computed (the difference is adjustments)",
    f"SELECT net_contribution FROM marts.cs_pnl_monthly_wide WHERE month = {MONTH_DATE}",
    "SELECT net_contribution FROM intermediate.int_pnl_monthly_computed WHERE month = ?",
)


class CloseError(RuntimeError, ExpectedError):
    """The close or reopen cannot be done as asked (the message says why)."""


def check_month(month: str) -> str:
    if not MONTH.match(month):
        raise CloseError(f"month must be YYYY-MM, got {month!r}")
    return month


def closed_months(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [m for (m,) in con.execute("SELECT DISTINCT month FROM ops.cs_pnl_closed ORDER BY month").fetchall()]


def close_month(month: str, by: str | None = None, warehouse: Path | None = None) -> dict:
    """Freeze month M's P&L rows and log it (one transaction), then write its finance pack."""
    check_month(month)
    con = duckdb.connect(str(warehouse or warehouse_path()))
    try:
        if month in closed_months(con):
            raise CloseError(f"{month} is already closed (reopen it first to close it again)")
        rows = con.execute(f"SELECT count(*) FROM marts.cs_pnl_monthly WHERE month = {MONTH_DATE}", [month]).fetchall()[
            0
        ][0]
        if not rows:
            raise CloseError(f"{month} has no P&L rows in marts.cs_pnl_monthly (run dbt build first)")
        # a closed month is frozen for good: one short of renewals it cannot see must not be (§5 Source history)
        incomplete = con.execute(
            f"SELECT count(*) FROM marts.cs_pnl_monthly_wide WHERE month = {MONTH_DATE} "
            "AND NOT source_history_complete",
            [month],
        ).fetchall()[0][0]
        if incomplete:
            raise CloseError(
                f"{month} cannot be closed: its source history is incomplete (Shopify renewal orders with no Recharge"
                " charge or order behind them, business rules §5); load the missing Recharge history, rebuild, then"
                " close"
            )
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"""INSERT INTO ops.cs_pnl_closed
                   SELECT strftime(month, '%Y-%m'), line, amount, now(), rule_version FROM marts.cs_pnl_monthly
                   WHERE month = {MONTH_DATE}""",
                [month],
            )
            version = con.execute(
                "SELECT max(rule_version) FROM ops.cs_pnl_closed WHERE month = ?", [month]
            ).fetchall()[0][0]
            log(con, month, "close", by, None, version)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        pack = write_finance_pack(month, con)
    finally:
        con.close()
    return {"month": month, "lines": rows, "rule_version": version, "pack": str(pack)}


def reopen_month(month: str, reason: str, by: str | None = None, warehouse: Path | None = None) -> dict:
    """Unfreeze the latest closed month; logged with who and why."""
    check_month(month)
    if not reason or not reason.strip():
        raise CloseError("reopening a month needs a reason")
    con = duckdb.connect(str(warehouse or warehouse_path()))
    try:
        months = closed_months(con)
        if month not in months:
            raise CloseError(f"{month} is not closed")
        if month != months[-1]:
            raise CloseError(f"only the latest closed month ({months[-1]}) can be reopened; {month} is earlier")
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM ops.cs_pnl_closed WHERE month = ?", [month])
            log(con, month, "reopen", by, reason.strip(), None)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return {"month": month, "reopened": True}


def log(con: duckdb.DuckDBPyConnection, month: str, action: str, by: str | None, reason: str | None, version) -> None:
    con.execute(
        "INSERT INTO ops.month_close_log VALUES (?, ?, now(), ?, ?, ?)",
        [month, action, by or getpass.getuser(), reason, version],
    )


def pack_tables(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """sheet -> (columns, rows) for month M, reconciliation included."""
    out = {}
    for sheet, query in PACK_SHEETS.items():
        cur = con.execute(query, [month] * query.count("?"))
        out[sheet] = ([d[0] for d in cur.description], cur.fetchall())
    rows = con.execute(
        f"SELECT measure, mart_total, raw_total FROM ({reconciliation_sql(ALL)}) WHERE month = ? ORDER BY measure",
        [month],
    ).fetchall()
    recon = [(f"{measure} vs source", mart, raw, mart - raw, mart == raw) for measure, mart, raw in rows]
    check, mart_sql, computed_sql = PUBLISHED_VS_COMPUTED
    mart = con.execute(mart_sql, [month]).fetchall()[0][0] or 0
    computed = con.execute(computed_sql, [month]).fetchall()[0][0] or 0
    recon.append((check, mart, computed, mart - computed, mart == computed))
    out["reconciliation"] = (["check", "mart_total", "source_total", "difference", "equal"], recon)
    return out


def write_finance_pack(month: str, con: duckdb.DuckDBPyConnection, out: Path | None = None) -> Path:
    """CSV per sheet and one XLSX under exports/<M>/, replaced as a whole."""
    from openpyxl import Workbook

    tables = pack_tables(con, check_month(month))
    final = (out or exports_dir()) / month
    tmp = final.with_name(f".{month}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    book = Workbook()
    book.remove(book.active)
    for sheet, (columns, rows) in tables.items():
        with open(tmp / f"{sheet}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            w.writerows([cell_text(v) for v in row] for row in rows)
        ws = book.create_sheet(sheet)
        ws.append(columns)
        for row in rows:
            ws.append([cell_value(v) for v in row])
        for col in ws.iter_cols(min_row=2):
            for cell in col:
                if isinstance(cell.value, Decimal | float):
                    cell.number_format = "#,##0.00##"
                elif isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                    # openpyxl stores text starting with "=" as a formula: vendor text (an agent's email, a tag)
                    # stays a string cell, and quotePrefix keeps Excel from reading it as one when edited
                    cell.data_type = "s"
                    cell.quotePrefix = True
    book.save(tmp / f"cs_finance_pack_{month}.xlsx")
    old = final.with_name(f".{month}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


# What a spreadsheet reads as the start of a formula (OWASP, CSV injection): = + - @, and tab / CR before them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_text(text: str) -> str:
    """Text for a CSV cell that no spreadsheet runs: a leading ' when it would start a formula (OWASP)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell_text(v: object) -> str:
    """A CSV cell: numbers as numbers (a negative amount keeps its sign unquoted), text made inert."""
    if v is None:
        return ""
    if isinstance(v, str):
        return inert_text(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat()
    return str(v)


def cell_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None)  # XLSX has no time zones: UTC, said in the header
    return v


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.close", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("action", choices=["close", "reopen", "pack"])
    parser.add_argument("month", type=check_month)
    parser.add_argument("--by", help="who (default: the OS user)")
    parser.add_argument("--reason", help="why (required to reopen)")
    args = parser.parse_args(argv)
    if args.action == "close":
        print(close_month(args.month, args.by))
    elif args.action == "reopen":
        print(reopen_month(args.month, args.reason or "", args.by))
    else:
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        try:
            print(write_finance_pack(args.month, con))
        finally:
            con.close()


if __name__ == "__main__":
    run_cli(main)
