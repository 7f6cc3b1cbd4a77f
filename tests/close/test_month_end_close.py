"""Month-end close (§9): frozen months never move, late data becomes adjustments, the pack is the marts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from pipeline.close import PACK_SHEETS, CloseError, close_month, reopen_month
from pipeline.dbt import run_dbt
from sandbox.calendar import from_us
from sandbox.pull import pull_and_build


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def lines(warehouse: Path, relation: str, month: str) -> dict[str, Decimal]:
    if relation.endswith("computed"):
        amounts = "COLUMNS(* EXCLUDE (month, is_profit_center, source_history_complete, rule_version))"
        sql = f"UNPIVOT {relation} ON {amounts} INTO NAME line VALUE amount"
        return dict(query(warehouse, f"SELECT line, amount FROM ({sql}) WHERE month = ?", [month]))
    # the marts' months are DATEs (the first day); the intermediate P&L keeps 'YYYY-MM' labels
    return dict(
        query(warehouse, f"SELECT line, amount FROM {relation} WHERE month = CAST(? || '-01' AS DATE)", [month])
    )


def test_a_closed_month_never_moves_and_late_data_becomes_an_adjustment(tiny, data_dir):
    warehouse = data_dir / "warehouse.duckdb"
    pull_and_build(tiny)  # clock: start of 2026-04; March is complete
    before = lines(warehouse, "marts.cs_pnl_monthly", "2026-03")
    closed = close_month("2026-03", by="test")
    assert closed["lines"] == len(before)

    # Three weeks later: labels bought after month end, refunds, claim decisions... then a full rebuild.
    clock = pull_and_build(tiny, advance_days=21, full_refresh=True)
    published = lines(warehouse, "marts.cs_pnl_monthly", "2026-03")
    recomputed = lines(warehouse, "intermediate.int_pnl_monthly_computed", "2026-03")
    assert published == before, "a closed month moved"
    changed = {k: recomputed[k] - before[k] for k in before if recomputed[k] != before[k]}
    assert changed, "the late data changed nothing in March: the test proves nothing"
    adjustments = query(warehouse, "SELECT line, amount, booked_month FROM marts.cs_pnl_adjustments "
                        "WHERE affects_month = DATE '2026-03-01'")  # fmt: skip
    assert {line: amount for line, amount, _ in adjustments} == changed
    assert {booked for _, _, booked in adjustments} == {date(2026, 4, 1)}
    april = lines(warehouse, "marts.cs_pnl_monthly", "2026-04")
    april_computed = lines(warehouse, "intermediate.int_pnl_monthly_computed", "2026-04")
    assert april == {k: april_computed[k] + changed.get(k, 0) for k in april_computed}
    print(f"March adjustments booked in April: {changed}")

    # Reopening is explicit: only the latest closed month, with a reason, and logged.
    with pytest.raises(CloseError, match="needs a reason"):
        reopen_month("2026-03", reason=" ")
    with pytest.raises(CloseError, match="is not closed"):
        reopen_month("2026-02", reason="typo")
    reopen_month("2026-03", reason="cost file corrected", by="test")
    run_dbt("build", as_of=from_us(clock).isoformat(), quiet=True)
    assert lines(warehouse, "marts.cs_pnl_monthly", "2026-03") == recomputed
    assert query(warehouse, "SELECT count(*) FROM marts.cs_pnl_adjustments") == [(0,)]
    log = query(warehouse, "SELECT month, action, acted_by, reason FROM ops.month_close_log ORDER BY acted_at")
    assert log == [("2026-03", "close", "test", None), ("2026-03", "reopen", "test", "cost file corrected")]


def test_a_month_closed_under_rule_version_1_keeps_its_figures_and_only_late_data_is_adjusted(tiny, data_dir):
    """§2/§9: closed months keep the rule version they closed with. The v2 rebuild changes how refunds reverse
    revenue; that change of rules is not later data, so it is not booked: the adjustments are exactly what the
    late data changed, valued under v1 (DECISIONLOG)."""
    warehouse = data_dir / "warehouse.duckdb"
    v1 = {"rule_version": "v1"}
    pull_and_build(tiny, variables=v1)  # clock: start of 2026-04
    before = lines(warehouse, "marts.cs_pnl_monthly", "2026-03")
    assert close_month("2026-03", by="test")["rule_version"] == "v1"

    clock = pull_and_build(tiny, advance_days=21, full_refresh=True)  # late data, rebuilt under v2 (the default)
    assert lines(warehouse, "marts.cs_pnl_monthly", "2026-03") == before, "a v1-closed month moved"
    assert query(
        warehouse, "SELECT DISTINCT rule_version FROM marts.cs_pnl_monthly WHERE month = DATE '2026-03-01'"
    ) == [("v1",)]
    assert query(
        warehouse, "SELECT DISTINCT rule_version FROM marts.cs_pnl_monthly WHERE month = DATE '2026-04-01'"
    ) == [("v2",)]
    booked = dict(
        query(warehouse, "SELECT line, amount FROM marts.cs_pnl_adjustments WHERE affects_month = DATE '2026-03-01'")
    )
    computed_v2 = lines(warehouse, "intermediate.int_pnl_monthly_computed", "2026-03")

    run_dbt("build", as_of=from_us(clock).isoformat(), variables=v1, quiet=True)  # the same data under v1
    computed_v1 = lines(warehouse, "intermediate.int_pnl_monthly_computed", "2026-03")
    assert computed_v2["revenue_upsell"] != computed_v1["revenue_upsell"], "v2 changed nothing: proves nothing"
    late_data = {k: computed_v1[k] - before[k] for k in before if computed_v1[k] != before[k]}
    assert late_data, "the late data changed nothing in March: the test proves nothing"
    assert booked == late_data


def test_the_finance_pack_equals_the_marts(tiny, data_dir):
    warehouse = data_dir / "warehouse.duckdb"
    pull_and_build(tiny)
    with pytest.raises(CloseError, match="YYYY-MM"):
        close_month("2026-3")
    pack = Path(close_month("2026-02")["pack"])
    with pytest.raises(CloseError, match="already closed"):
        close_month("2026-02")
    book = load_workbook(pack / "cs_finance_pack_2026-02.xlsx", read_only=True)
    assert book.sheetnames == [*PACK_SHEETS, "reconciliation"]
    for sheet, sql in PACK_SHEETS.items():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            cur = con.execute(sql, ["2026-02"] * sql.count("?"))
            columns, rows = [d[0] for d in cur.description], cur.fetchall()
        finally:
            con.close()
        got = list(book[sheet].iter_rows(values_only=True))
        assert list(got[0]) == columns, sheet
        assert len(got) - 1 == len(rows), sheet
        for want_row, got_row in zip(rows, got[1:], strict=True):
            for want, cell in zip(want_row, got_row, strict=True):
                if isinstance(want, Decimal):
                    assert Decimal(str(cell)) == want, (sheet, want, cell)
                elif isinstance(want, date) and not isinstance(want, datetime):  # a DATE cell reads back as datetime
                    assert cell.date() == want, (sheet, want, cell)
                elif not hasattr(want, "tzinfo"):
                    assert cell == want, (sheet, want, cell)
    recon = list(book["reconciliation"].iter_rows(values_only=True))[1:]
    assert len(recon) >= 5 and all(r[4] for r in recon), recon  # every mart total equals its source total
    assert (pack / "pnl.csv").read_text().count("\n") == 12  # header + 11 lines


def test_the_pack_and_the_gate_reconcile_to_the_sources_with_one_query(tiny, data_dir):
    """One reconciliation (expectations/reconciliation.py): a source total changed after the build shows as the
    same difference in the marts gate's query and in the finance pack's reconciliation sheet; the pack also puts
    the ledgers (here the CS costs) beside their sources."""
    from expectations.reconciliation import local_month, reconciliation_sql
    from pipeline.close import pack_tables

    warehouse = data_dir / "warehouse.duckdb"
    pull_and_build(tiny)
    con = duckdb.connect(str(warehouse))
    try:
        gate = f"SELECT month, mart_total - raw_total FROM ({reconciliation_sql()}) WHERE measure = ?"
        assert all(d == 0 for _, d in con.execute(gate, ["claims requested amount"]).fetchall())
        month, claim = con.execute(
            f"""SELECT {local_month("CAST(record->>'status_timestamp' AS TIMESTAMPTZ)")}, id FROM raw_easypost.claims
                WHERE record->>'mode' = 'production' AND record->>'status' <> 'cancelled' ORDER BY id LIMIT 1"""
        ).fetchall()[0]
        con.execute(
            """UPDATE raw_easypost.claims
               SET record = json_merge_patch(record, json_object('requested_amount',
                            CAST(CAST(record->>'requested_amount' AS DECIMAL(18, 2)) + 1.25 AS VARCHAR)))
               WHERE id = ?""",
            [claim],
        )
        con.execute("UPDATE raw_finance.cs_costs SET amount = amount + 1 WHERE month = ?", [month])
        assert dict(con.execute(gate, ["claims requested amount"]).fetchall())[month] == Decimal("-1.25")
        sheet = {row[0]: row[1:] for row in pack_tables(con, month)["reconciliation"][1]}
    finally:
        con.close()
    assert sheet["claims requested amount vs source"][2:] == (Decimal("-1.25"), False)
    assert sheet["CS cost lines vs source"][3] is False
    assert sheet["attributed order revenue vs source"][3] is True
