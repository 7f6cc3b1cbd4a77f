"""The benchmark's hand-written SQL reference computes the same marts as dbt, or its speed means nothing:
on a copy of the tiny sandbox warehouse, every `hand.<mart>` equals the sandbox's answer key row for row
and to the cent, and equals dbt's mart of the same name (columns, types and rows), closed months included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from bench.hand_sql import run
from pipeline.dbt import run_dbt
from sandbox.answer_key import AnswerKey
from sandbox.calendar import from_us
from sandbox.verify import compare


@pytest.fixture(scope="module")
def hand(tiny, tiny_warehouse, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the tiny warehouse (the session's stays untouched) with schema `hand` built as of the
    sandbox clock dbt was given; returns the copy and that instant."""
    warehouse = tmp_path_factory.mktemp("hand") / "warehouse.duckdb"
    shutil.copy(tiny_warehouse, warehouse)
    as_of = from_us(json.loads((tiny / "manifest.json").read_text())["clock_us"]).isoformat()
    run(warehouse, as_of)
    return warehouse, as_of


def tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    return {
        n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]).fetchall()
    }


def differences_from_dbt(warehouse: Path, names: list[str] | None = None) -> list[str]:
    """Every `hand` table (or those named) against `marts`: column names and types, then rows both ways."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        problems = []
        for name in names or sorted(tables(con, "hand")):
            hand_columns = con.execute(f"DESCRIBE hand.{name}").fetchall()
            dbt_columns = con.execute(f"DESCRIBE marts.{name}").fetchall()
            if [c[:2] for c in hand_columns] != [c[:2] for c in dbt_columns]:
                problems.append(f"{name}: columns {[c[:2] for c in hand_columns]} != {[c[:2] for c in dbt_columns]}")
                continue
            for a, b in (("hand", "marts"), ("marts", "hand")):
                rows = con.execute(f"SELECT * FROM {a}.{name} EXCEPT ALL SELECT * FROM {b}.{name}").fetchall()
                if rows:
                    problems.append(f"{name}: {len(rows)} rows only in {a}, e.g. {rows[:3]}")
        return problems
    finally:
        con.close()


def test_the_hand_marts_equal_the_answer_key(hand, tiny):
    warehouse, _ = hand
    clock = json.loads((tiny / "manifest.json").read_text())["clock_us"]
    checked, problems = compare(warehouse, AnswerKey(tiny, as_of=clock).marts(), schema="hand")
    assert not problems, "\n".join(problems)
    assert checked > 0


def test_the_hand_marts_equal_dbt_marts_column_for_column(hand):
    warehouse, _ = hand
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        built, marts = tables(con, "hand"), tables(con, "marts")
    finally:
        con.close()
    assert built == marts, f"dbt builds {sorted(marts - built)} that the hand script does not"
    problems = differences_from_dbt(warehouse)
    assert not problems, "\n".join(problems)


def test_a_closed_month_is_published_frozen_with_its_adjustments_as_dbt_does(hand, tmp_path, monkeypatch):
    warehouse, as_of = hand
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    try:  # close the first month as it stood before a late 12.34 credit note on its other costs
        con.execute("""
            INSERT INTO ops.cs_pnl_closed
            SELECT strftime(month, '%Y-%m'), line,
                   amount + CASE line WHEN 'cost_other' THEN 12.34 WHEN 'net_contribution' THEN -12.34 ELSE 0 END,
                   now(), rule_version
            FROM marts.cs_pnl_monthly WHERE month = (SELECT min(month) FROM marts.cs_pnl_monthly)""")
    finally:
        con.close()
    monkeypatch.setenv("WAREHOUSE_PATH", str(copy))
    run_dbt("run", as_of=as_of, select=["cs_pnl_adjustments+"], quiet=True)
    run(copy, as_of)  # a rerun: schema `hand` already exists

    con = duckdb.connect(str(copy), read_only=True)
    try:
        adjustments = con.execute("SELECT line, amount FROM hand.cs_pnl_adjustments ORDER BY line").fetchall()
    finally:
        con.close()
    assert [(line, str(amount)) for line, amount in adjustments] == [
        ("cost_other", "-12.34"),
        ("net_contribution", "12.34"),
    ]
    problems = differences_from_dbt(copy, ["cs_pnl_adjustments", "cs_pnl_monthly", "cs_pnl_monthly_wide"])
    assert not problems, "\n".join(problems)
