"""The data-quality gates on a real tiny warehouse (emulators -> ingest -> dbt build), clean and corrupted."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from expectations import DataQualityFailed, validate
from expectations.__main__ import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(tiny_warehouse_copy) -> Path:
    """Each test validates its own copy of the session's tiny warehouse."""
    return tiny_warehouse_copy


def sql(warehouse: Path, *statements: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse))
    try:
        rows = []
        for s in statements:
            rows = con.execute(s).fetchall()
        return rows
    finally:
        con.close()


def test_the_clean_warehouse_passes_both_gates_and_records_every_result(warehouse):
    raw = validate("raw", run_id="clean-raw")
    marts = validate("marts")
    assert raw.success and marts.success
    assert {o.suite for o in raw.outcomes} >= {"raw_shopify.orders", "raw_recharge.charges", "raw_easypost.claims"}
    assert {o.suite for o in marts.outcomes} >= {"marts.cs_pnl_monthly_wide", "marts.reconciliation"}

    stored = sql(warehouse, "select run_id, layer, count(*), bool_and(success) from ops.dq_results group by all")
    assert sorted(stored) == sorted(
        [("clean-raw", "raw", len(raw.outcomes), True), (marts.run_id, "marts", len(marts.outcomes), True)]
    )
    data = warehouse.parent  # every check passed in SQL: no GX context was built, no Data Docs rendered
    assert not (data / "gx").exists() and not (data / "data_docs").exists()


def test_a_duplicate_key_and_an_unknown_status_fail_the_raw_gate(warehouse, capsys):
    (order_id,) = sql(warehouse, "select min(id) from raw_shopify.orders")[0]
    (charge_id,) = sql(warehouse, "select min(id) from raw_recharge.charges")[0]
    sql(
        warehouse,
        f"insert into raw_shopify.orders select * from raw_shopify.orders where id = '{order_id}'",
        'update raw_recharge.charges set record = json_merge_patch(record, \'{"status": "exploded"}\')'
        f" where id = '{charge_id}'",
    )
    with pytest.raises(DataQualityFailed) as failed:
        validate("raw")
    message = str(failed.value)
    assert "one row per id in the whole table" in message and "table raw_shopify.orders, column copies" in message
    assert f"id={order_id} copies=2" in message
    assert "expect_column_values_to_be_in_set" in message and "table raw_recharge.charges, column status" in message
    assert f"id={charge_id} status=exploded" in message
    assert {o.suite for o in failed.value.result.failures} == {"raw_shopify.orders", "raw_recharge.charges"}

    failures = sql(warehouse, "select table_name, expectation from ops.dq_results where not success")
    assert ("raw_recharge.charges", "expect_column_values_to_be_in_set") in failures
    data = warehouse.parent  # the failing suites went to GX: their Data Docs pages
    assert (data / "data_docs" / "index.html").is_file()
    assert (data / "gx" / "validation_definitions").is_dir()  # GX state lives under DATA_DIR,
    assert not (REPO / "gx").exists() and not (REPO / "expectations" / "uncommitted").exists()  # not in the repo

    assert main(["validate", "--layer", "raw"]) == 1  # the CLI a DAG task runs exits non-zero
    assert "exploded" in capsys.readouterr().err


def test_the_raw_gate_reads_the_rows_of_new_loads_and_a_failed_load_again(warehouse):
    finance_rows = sum(
        sql(warehouse, f"select count(*) from raw_finance.{t}")[0][0]
        for t in ("cs_costs", "fx_rates", "product_costs", "agent_coupons", "cs_settings")
    )
    assert validate("raw").rows > 1000 + finance_rows  # no gate has passed on this warehouse: every row
    assert validate("raw").rows == finance_rows  # nothing loaded since: only the (small) finance tables

    (charge_id,) = sql(warehouse, "select min(id) from raw_recharge.charges")[0]
    sql(  # a new load brings one charge with an undocumented status
        warehouse,
        'update raw_recharge.charges set record = json_merge_patch(record, \'{"status": "exploded"}\'),'
        f" load_id = (select max(load_id) + 1 from raw_recharge.charges) where id = '{charge_id}'",
    )
    for _ in range(2):  # a failed load is read again by the next gate, not skipped
        with pytest.raises(DataQualityFailed) as failed:
            validate("raw")
        assert f"id={charge_id} status=exploded" in str(failed.value)
        assert failed.value.result.rows == finance_rows + 1
    with pytest.raises(DataQualityFailed):
        validate("raw", everything=True)  # --all-rows: every row again


def test_a_raw_table_streamed_in_chunks_gets_the_verdicts_of_reading_it_whole(warehouse, monkeypatch):
    from expectations import runner

    charges, first, last = sql(warehouse, "select count(*), min(id), max(id) from raw_recharge.charges")[0]
    assert charges > 300
    explode = """update raw_recharge.charges set record = json_merge_patch(record, '{"status": "exploded"}')"""
    sql(warehouse, *(f"{explode} where id = '{charge_id}'" for charge_id in (first, last)))
    sql(warehouse, f"insert into raw_recharge.charges select * from raw_recharge.charges where id = '{last}'")

    def verdicts() -> tuple[int, list[tuple]]:
        with pytest.raises(DataQualityFailed) as failed:
            validate("raw", everything=True)
        result = failed.value.result
        return result.rows, [(o.suite, o.expectation, o.column, o.success, o.observed) for o in result.outcomes]

    whole = verdicts()
    monkeypatch.setattr(runner, "CHUNK_ROWS", 100)  # charges now span several chunks
    streamed = verdicts()
    assert streamed == whole
    failed = {(suite, column): observed for suite, _, column, success, observed in whole[1] if not success}
    assert failed == {
        ("raw_recharge.charges", "status"): f"3 of {charges + 1} rows unexpected",  # both copies of `last`
        ("raw_recharge.charges", "copies"): f"2 of {charges + 1} rows unexpected",  # one id, two rows
    }


def test_a_cent_off_the_pnl_and_a_missing_month_fail_the_mart_gate(warehouse):
    months = [m for (m,) in sql(warehouse, "select month from marts.cs_pnl_monthly_wide order by month")]
    (order_id,) = sql(warehouse, "select min(order_id) from marts.fct_attributed_orders where row_type = 'order'")[0]
    sql(
        warehouse,
        f"update marts.cs_pnl_monthly_wide set net_contribution = net_contribution + 0.01 where month = '{months[0]}'",
        f"delete from marts.cs_pnl_monthly_wide where month = '{months[1]}'",
        f"update marts.fct_attributed_orders set net_revenue = net_revenue + 0.01 where order_id = {order_id}"
        " and row_type = 'order'",
    )
    with pytest.raises(DataQualityFailed) as failed:
        validate("marts")
    message = str(failed.value)
    assert "P&L identity" in message and "table marts.cs_pnl_monthly_wide, column net_contribution" in message
    assert f"month={months[0]}" in message
    assert "no gaps" in message and f"mart=marts.cs_pnl_monthly_wide series=- month={months[1]:%Y-%m}" in message
    assert "attributed revenue is not above the ledger" in message and f"order_id={order_id}" in message
    assert "mart total = raw source total" in message and "measure=attributed order revenue" in message


def test_an_unknown_amount_in_a_published_mart_fails_the_mart_gate(warehouse):
    """§2: a SKU without a cost reached the published marts as a null COGS (34 attributed orders) when the
    dbt tests did not run; the mart gate itself now refuses any null amount, whatever let it through."""
    (order_id,) = sql(warehouse, "select min(order_id) from marts.fct_attributed_orders where row_type = 'order'")[0]
    (month,) = sql(warehouse, "select min(renewal_month) from marts.winback_cohorts")[0]
    sql(
        warehouse,
        # the marts' contracts declare amounts not null: drop that, as a warehouse built without it would be
        "alter table marts.fct_attributed_orders alter column cogs drop not null",
        "alter table marts.winback_cohorts alter column retained_revenue_90d drop not null",
        f"update marts.fct_attributed_orders set cogs = null where order_id = {order_id} and row_type = 'order'",
        f"update marts.winback_cohorts set retained_revenue_90d = null where renewal_month = '{month}'",
    )
    with pytest.raises(DataQualityFailed) as failed:
        validate("marts")
    message = str(failed.value)
    assert "cogs is known" in message and "table marts.fct_attributed_orders, column cogs: 1 of" in message
    assert f"order_id={order_id} row_type=order" in message
    assert "table marts.winback_cohorts, column retained_revenue_90d: 1 of" in message
    assert f"renewal_month={month}" in message


def test_every_amount_of_every_published_mart_is_declared_for_the_gate(warehouse):
    """A new money column of a mart is checked by the gate only if declared: this names any left out."""
    from expectations.suites import AMOUNTS, NOT_AMOUNTS

    decimals = sql(
        warehouse,
        "select table_name, column_name from duckdb_columns() where schema_name = 'marts'"
        " and data_type like 'DECIMAL%' order by all",
    )
    declared = {(mart, c) for mart, (_, amounts) in AMOUNTS.items() for c in amounts}
    missing = [f"{t}.{c}" for t, c in decimals if (t, c) not in declared and c not in NOT_AMOUNTS]
    assert decimals and not missing, f"money columns missing from expectations.suites.AMOUNTS: {missing}"


def test_a_refund_reversed_for_its_money_returned_fails_the_mart_reconciliation(warehouse):
    """Rule version 2 (§2): the gate recomputes refunds' revenue reversal from the raw JSON (goods pre-tax plus
    refund discrepancies), so a refund row that reverses the whole money returned, tax and shipping included
    (version 1's basis, marts stamped v2), stops publishing."""
    (refund_id, month) = sql(
        warehouse,
        "select f.refund_id, f.booked_month from marts.fct_attributed_orders as f"
        " join intermediate.int_refunds_booked as r using (refund_id)"
        " where f.row_type = 'refund' and r.money_returned <> r.revenue_reversal order by 1 limit 1",
    )[0]
    sql(
        warehouse,
        "update marts.fct_attributed_orders as f set net_revenue = -r.money_returned"
        f" from intermediate.int_refunds_booked as r where r.refund_id = f.refund_id and f.refund_id = {refund_id}",
    )
    with pytest.raises(DataQualityFailed) as failed:
        validate("marts")
    message = str(failed.value)
    assert "mart total = raw source total" in message
    assert f"measure=attributed refunds month={month:%Y-%m}" in message  # the gate's months are YYYY-MM labels
