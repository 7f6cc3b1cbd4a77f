"""The marts gate's parsed copy of the raw JSON (expectations.facts), kept up by new loads on a real tiny warehouse:
the same as parsing it all again, and the gate still sees what a new load changes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from expectations import DataQualityFailed, validate
from expectations.facts import facts, refresh


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse))


def new_version(con: duckdb.DuckDBPyConnection, table: str, ids: list[str], record: str) -> None:
    """What a load does to a changed record: its new version replaces the row, under a new load id."""
    (load_id,) = con.execute("select nextval('ops.load_id_seq')").fetchone()
    con.execute(
        f"create or replace temp table v as select * replace ({record} as record, {load_id} as load_id)"
        f" from {table} where list_contains(?, id)",
        [ids],
    )
    con.execute(f"delete from {table} where list_contains(?, id)", [ids])
    con.execute(f"insert into {table} select * from v")


def contents(warehouse: Path) -> dict[str, list[tuple]]:
    con = connect(warehouse)
    try:
        return {f.name: sorted(con.execute(f"select * from {f.table}").fetchall(), key=repr) for f in facts()}
    finally:
        con.close()


def unlink_a_renewal_order(con: duckdb.DuckDBPyConnection) -> str:
    """A new load of every Recharge charge and order linking one tagged Shopify order, now linking none."""
    (order_id,) = con.execute(
        """select t.id from ops.dq_facts_shopify_tag_mentioned as t
           join ops.dq_facts_recharge_charge_links as c on c.linked_order_id = t.id
           where t.tag_mentioned order by t.id limit 1"""
    ).fetchone()
    unlinked = """json_merge_patch(record, '{"external_order_id": {"ecommerce": null}}')"""
    for table, fact in (("raw_recharge.charges", "charge"), ("raw_recharge.orders", "order")):
        ids = [i for (i,) in con.execute(
            f"select id from ops.dq_facts_recharge_{fact}_links where linked_order_id = ?", [order_id]
        ).fetchall()]  # fmt: skip
        if ids:
            new_version(con, table, ids, unlinked)
    return order_id


def test_facts_kept_up_by_new_loads_equal_facts_parsed_whole(tiny_warehouse_copy):
    warehouse = tiny_warehouse_copy
    assert all(rows == -1 for rows in refresh(warehouse).values())  # the first gate parses it all
    con = connect(warehouse)
    try:
        unlinked = unlink_a_renewal_order(con)
        # an attributed order changed by a new load, and one attributed order leaving the marts for now
        changed, leaving = [i for (i,) in con.execute(
            "select id from ops.dq_facts_attributed_orders order by id limit 2").fetchall()]  # fmt: skip
        patch = """json_merge_patch(record, '{"subtotalPriceSet": {"shopMoney": {"amount": "1.23"}}}')"""
        new_version(con, "raw_shopify.orders", [changed], patch)
        con.execute("create table gone as select * from marts.fct_attributed_orders where order_id::varchar = ?",
                    [leaving])  # fmt: skip
        con.execute("delete from marts.fct_attributed_orders where order_id::varchar = ?", [leaving])
    finally:
        con.close()

    parsed = refresh(warehouse)
    assert parsed["recharge_charge_links"] > 0 and parsed["attributed_orders"] == 1, parsed  # not built whole
    kept = contents(warehouse)
    assert unlinked in {row[0] for row in kept["shopify_unlinked_tagged"]}
    assert leaving not in {row[0] for row in kept["attributed_orders"]}
    assert "1.23" in next(row[2] for row in kept["attributed_orders"] if row[0] == changed)

    # back in the marts: an order of an old load, read from the raw table by its id
    con = connect(warehouse)
    try:
        con.execute("insert into marts.fct_attributed_orders select * from gone")
    finally:
        con.close()
    assert refresh(warehouse)["attributed_orders"] == 1
    kept = contents(warehouse)

    refresh(warehouse, rebuild=True)
    assert contents(warehouse) == kept


def test_a_renewal_order_unlinked_by_a_new_load_fails_the_mart_gate(tiny_warehouse_copy):
    """§5: after a passing gate, a new load leaves a renewal order of a month marked complete with no Recharge
    link; the next gate's source-history check names that month (parsing only the new load's records)."""
    warehouse = tiny_warehouse_copy
    assert validate("marts").success
    con = connect(warehouse)
    try:
        unlink_a_renewal_order(con)
    finally:
        con.close()
    with pytest.raises(DataQualityFailed) as failed:
        validate("marts")
    assert "§5 Source history" in str(failed.value)


def test_a_raw_table_gone_fails_the_recomputations_rather_than_reading_old_facts(tiny_warehouse_copy):
    warehouse = tiny_warehouse_copy
    assert validate("marts").success
    con = connect(warehouse)
    try:
        con.execute("alter table raw_recharge.orders rename to orders_gone")
    finally:
        con.close()
    with pytest.raises(DataQualityFailed) as failed:
        validate("marts")
    assert "marts vs raw (renewal orders per month)" in str(failed.value)
