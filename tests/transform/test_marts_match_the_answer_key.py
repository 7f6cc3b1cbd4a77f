"""The dbt marts against the sandbox's independently computed answer key, every row, to the cent.

Real parts: the emulators on loopback, the ingest path into a DuckDB file, one `dbt build` process
(which also runs the dbt unit and data tests), then a row-by-row comparison with the answer key.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import duckdb
import pytest

from pipeline.dbt import DbtFailed, run_dbt
from sandbox.answer_key import AnswerKey, Campaign, Rules
from sandbox.calendar import DAY, from_us
from sandbox.pull import pull_and_build
from sandbox.tables import read_table
from sandbox.verify import KEYS, compare
from tests.sandbox.world import OTHER_AGENT, World, t

MARTS = (*KEYS, "dim_customers", "dim_agents")


def assert_equal_to_answer_key(warehouse: Path, key: AnswerKey) -> None:
    checked, problems = compare(warehouse, key.marts())
    assert not problems, "\n".join(problems)
    print(f"{checked} answer-key rows equal to the marts")
    assert checked > 0


def query_warehouse(warehouse: Path, sql: str, read_only: bool = True) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def marts_snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {m: sorted(con.execute(f"SELECT * FROM marts.{m}").fetchall(), key=repr) for m in MARTS}
    finally:
        con.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_marts_equal_the_answer_key_to_the_cent(seed, tiny, tiny_seed2, data_dir):
    sim = tiny if seed == 1 else tiny_seed2
    clock = pull_and_build(sim)
    assert_equal_to_answer_key(data_dir / "warehouse.duckdb", AnswerKey(sim, as_of=clock))


def test_an_incremental_run_after_a_day_equals_a_full_refresh(tiny, data_dir):
    pull_and_build(tiny)
    clock = pull_and_build(tiny, advance_days=1)  # incremental: staging merges only what was extracted since
    incremental = marts_snapshot(data_dir / "warehouse.duckdb")
    run_dbt("build", as_of=from_us(clock).isoformat(), full_refresh=True, quiet=True)
    assert marts_snapshot(data_dir / "warehouse.duckdb") == incremental
    assert_equal_to_answer_key(data_dir / "warehouse.duckdb", AnswerKey(tiny, as_of=clock))


def test_incremental_staging_reads_only_the_rows_of_loads_it_has_not_seen(tiny, data_dir):
    """Each load stamps its rows with a new load_id; incremental staging reads raw rows above the highest it holds.
    A raw row changed without a new load_id stays unseen until a load (here: a bumped load_id) carries it."""
    pull_and_build(tiny)
    query = partial(query_warehouse, data_dir / "warehouse.duckdb")

    def tamper(sql: str) -> None:
        query(sql, read_only=False)

    def staged_tags() -> set[str]:
        return {s for (s,) in query("SELECT DISTINCT tags FROM staging.stg_shopify__orders")}

    assert "tampered" not in staged_tags()
    one_order = "(SELECT min(id) FROM raw_shopify.orders)"
    tamper(f"""UPDATE raw_shopify.orders SET record = json_merge_patch(record, '{{"tags": ["tampered"]}}')
               WHERE id = {one_order}""")
    run_dbt("build", select=["stg_shopify__orders"], quiet=True)
    assert "tampered" not in staged_tags()  # same load_id: not re-read
    newer = "(SELECT max(load_id) + 1 FROM raw_shopify.orders)"
    tamper(f"UPDATE raw_shopify.orders SET load_id = {newer} WHERE id = {one_order}")
    run_dbt("build", select=["stg_shopify__orders"], quiet=True)
    assert "tampered" in staged_tags()  # a newer load: read and merged by key


def test_an_order_reloaded_without_a_line_and_a_refund_leaves_no_stale_child_row(tiny, data_dir):
    """The child staging models (lines, codes, refunds, their transactions, lines and adjustments) are views over
    the typed lists of each order's current version: an order reloaded with fewer children leaves no stale row,
    and they equal a full rebuild."""
    pull_and_build(tiny)
    query = partial(query_warehouse, data_dir / "warehouse.duckdb")
    models = ["stg_shopify__orders", "stg_shopify__order_lines", "stg_shopify__order_discount_codes",
              "stg_shopify__refunds", "stg_shopify__refund_transactions", "stg_shopify__refund_line_items",
              "stg_shopify__refund_adjustments"]  # fmt: skip

    def children() -> dict[str, list[tuple]]:
        return {m: sorted(query(f"SELECT * FROM staging.{m}"), key=repr) for m in models[1:]}

    (order,) = query("""SELECT order_id FROM staging.stg_shopify__refunds
                        JOIN (SELECT order_id FROM staging.stg_shopify__order_lines GROUP BY 1 HAVING count(*) > 1)
                        USING (order_id) ORDER BY order_id LIMIT 1""")[0]
    query(f"""UPDATE raw_shopify.orders  -- a new version (a new load) with its first line only and no refund
              SET record = json_merge_patch(record, json_object('lineItems', json_array(record->'$.lineItems[0]'),
                                                                'refunds', json('[]'))),
                  load_id = (SELECT max(load_id) + 1 FROM raw_shopify.orders)
              WHERE id = '{order}'""", read_only=False)  # fmt: skip
    run_dbt("build", select=models, quiet=True)
    incremental = children()
    lines = [r for r in incremental["stg_shopify__order_lines"] if r[0] == order]
    assert len(lines) == 1 and not [r for r in incremental["stg_shopify__refunds"] if r[0] == order]
    run_dbt("build", select=models, full_refresh=True, quiet=True)
    assert incremental == children()


LEDGER = "intermediate.int_orders_enriched"


def test_the_ledger_rebuilds_the_orders_each_kind_of_change_touches_and_equals_a_full_rebuild(tiny, data_dir):
    """The order ledger is incremental: a build rebuilds only the orders its inputs changed. Each kind of change
    must reach its order: a new version of the order, a label refunded since, a renewal charge no longer
    successful, the email link of an order without a customer id; and a finance change reaches every order."""
    pull_and_build(tiny)
    query = partial(query_warehouse, data_dir / "warehouse.duckdb")

    def new_load(*updates: str) -> None:  # raw rows changed by one more load, stamped as ingest stamps them
        (load_id,) = query("SELECT nextval('ops.load_id_seq')", read_only=False)[0]
        for update in updates:
            query(update.replace("NEW_LOAD", str(load_id)), read_only=False)

    def facts() -> dict[int, tuple]:
        return {r[0]: r[1:] for r in query(f"SELECT order_id, label_cost, is_renewal, customer_key FROM {LEDGER}")}

    def rebuilt_by_last_build() -> int:
        newest = f"(SELECT max(inputs_load_id) FROM {LEDGER})"
        return query(f"SELECT count(*) FROM {LEDGER} WHERE inputs_load_id = {newest}")[0][0]

    def equals_a_full_rebuild() -> None:
        ledger = f"SELECT * EXCLUDE (inputs_load_id, rules_fingerprint) FROM {LEDGER}"
        incremental = sorted(query(ledger), key=repr), marts_snapshot(data_dir / "warehouse.duckdb")
        run_dbt("build", full_refresh=True, quiet=True)
        assert (sorted(query(ledger), key=repr), marts_snapshot(data_dir / "warehouse.duckdb")) == incremental

    (orders,) = query(f"SELECT count(*) FROM {LEDGER}")[0]
    labelled, renewal, linked = (r[0] for r in query(f"""
        SELECT min(order_id) FILTER (WHERE label_cost > 0 AND NOT is_renewal) FROM {LEDGER}
        UNION ALL SELECT max(order_id) FILTER (WHERE is_renewal) FROM {LEDGER}
        UNION ALL SELECT max(order_id) FILTER (WHERE label_cost > 0 AND NOT is_renewal) FROM {LEDGER}"""))  # fmt: skip
    # a new version of an order: it loses its customer id, so its customer is found through its email's link
    new_load(f"""UPDATE raw_shopify.orders SET record = json_merge_patch(record, '{{"customer": null}}'),
                 load_id = NEW_LOAD WHERE id = '{linked}'""")
    run_dbt("build", quiet=True)
    assert rebuilt_by_last_build() == 1
    (linked_customer, email), *_ = query(f"SELECT customer_key, customer_email FROM {LEDGER} WHERE order_id = {linked}")
    assert linked_customer != email  # linked, by Shopify's customer record or Recharge's

    before = facts()
    new_load(
        f"""UPDATE raw_easypost.shipments SET record = json_merge_patch(record, '{{"refund_status": "refunded"}}'),
            load_id = NEW_LOAD WHERE ltrim(trim(record->>'reference'), '#') IN
            (SELECT unnest([cast(order_number AS varchar), cast(order_id AS varchar)])
             FROM staging.stg_shopify__orders WHERE order_id = {labelled})""",
        *(f"""UPDATE {raw} SET record = json_merge_patch(record, '{{"status": "refunded"}}'), load_id = NEW_LOAD
              WHERE record->>'$.external_order_id.ecommerce' = '{renewal}'"""
          for raw in ("raw_recharge.charges", "raw_recharge.orders")),
        *(f"""UPDATE {raw} SET record = json_merge_patch(record, '{{"email": "moved-away@example.com"}}'),
              load_id = NEW_LOAD WHERE lower(trim(record->>'email')) = '{email}'"""
          for raw in ("raw_shopify.customers", "raw_recharge.customers")),
    )  # fmt: skip
    run_dbt("build", quiet=True)
    after = facts()
    assert after[labelled][0] == 0 < before[labelled][0]  # its only labels were refunded
    assert before[renewal][1] and not after[renewal][1]
    assert after[linked][2] == email != before[linked][2]  # no link any more: the email is the customer
    assert {o for o in after if after[o] != before[o]} == {labelled, renewal, linked}
    assert 3 <= rebuilt_by_last_build() < orders / 10  # the changed orders (and few others), not the ledger
    equals_a_full_rebuild()

    query("UPDATE raw_finance.product_costs SET unit_cost = unit_cost + 1", read_only=False)  # finance restates costs
    run_dbt("build", quiet=True)
    assert rebuilt_by_last_build() == orders
    equals_a_full_rebuild()


def test_a_sku_without_a_cost_fails_the_build_and_names_it(tiny, data_dir, tmp_path):
    sim = tmp_path / "sim"
    shutil.copytree(tiny, sim)
    sku = read_table(sim, "shopify_line_items").column("sku")[0].as_py()  # a SKU that sells
    costs = (sim / "finance" / "product_costs.csv").read_text().splitlines()
    (sim / "finance" / "product_costs.csv").write_text("\n".join(r for r in costs if not r.startswith(sku + ",")))
    with pytest.raises(DbtFailed) as failed:
        pull_and_build(sim)
    assert "order_cogs_is_known" in str(failed.value)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()
        built = {name for (name,) in tables}
        problem = con.execute("SELECT problem FROM dq_failures.order_cogs_is_known LIMIT 1").fetchall()
    finally:
        con.close()
    assert not built & {"cs_pnl_monthly", "fct_attributed_orders", "campaign_performance_monthly"}, built
    assert problem[0][0].startswith(f"no product cost for SKU {sku} on "), problem


VIP = {"kind": "touch", "tag": "cs-vip", "window_days": 3, "reply_required": False, "eligible_orders": "non_renewal"}


def test_a_third_campaign_is_one_declaration(tmp_path, data_dir):
    w = World()
    w.agents()
    touch = t(2026, 2, 3, 10)
    a = w.customer("a@x.com", 1)  # vip touch, order 2 days later: vip
    w.touch(a, "cs-vip", touch)
    w.order(a, touch + 2 * DAY)
    b = w.customer("b@x.com", 11)  # vip and upsell (replied) both qualify: vip comes first by priority
    w.touch(b, "cs-vip", touch, agent=OTHER_AGENT)
    w.touch(b, "cs-upsell-welcome", touch, replies=(touch + 3600 * 1_000_000,))
    w.order(b, touch + DAY)
    c = w.customer("c@x.com", 21)  # past vip's 3-day window but inside upsell's 7: upsell
    w.touch(c, "cs-vip", touch)
    w.touch(c, "cs-upsell-welcome", touch, replies=(touch + 3600 * 1_000_000,))
    w.order(c, touch + 4 * DAY)
    sim = w.write(tmp_path / "world")

    declared = {
        "campaigns": {
            "winback": {"kind": "touch", "tag": "cs-winback", "window_days": 14, "reply_required": False,
                        "eligible_orders": "renewal"},
            "vip": VIP,
            "upsell": {"kind": "touch", "tag": "cs-upsell-welcome", "window_days": 7, "reply_required": True,
                       "eligible_orders": "non_renewal"},
            "coupon": {"kind": "coupon", "eligible_orders": "coupon"},
        },
        "attribution_priority": ["winback", "vip", "upsell", "coupon"],
    }  # fmt: skip
    clock = pull_and_build(sim, variables=declared)
    rules = Rules()
    rules.campaigns.insert(1, Campaign("vip", "touch", "cs-vip", 3, False, "non_renewal"))
    assert_equal_to_answer_key(data_dir / "warehouse.duckdb", AnswerKey(sim, as_of=clock, rules=rules))

    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        found = {
            mart: con.execute(f"SELECT count(*) FROM marts.{mart} WHERE {where}").fetchall()[0][0]
            for mart, where in {
                "cs_pnl_monthly": "line = 'revenue_vip' AND amount > 0",
                "cs_pnl_monthly_wide": "revenue_vip > 0",
                "campaign_performance_monthly": "campaign = 'vip' AND contacted = 3 AND converted_orders = 2",
                "agent_performance_monthly": "campaign = 'vip'",
                "fct_attributed_orders": "campaign = 'vip'",
                "fct_campaign_touches": "campaign = 'vip'",
            }.items()
        }
    finally:
        con.close()
    assert all(found.values()), found


def test_two_campaigns_whose_tags_differ_only_in_case_or_spaces_are_refused(data_dir):
    """§3: tags match ignoring case and surrounding spaces, so `CS-Winback ` would make every win-back ticket a
    touch of both campaigns: the declaration is refused, naming both."""
    declared = {
        "campaigns": {
            "winback": {"kind": "touch", "tag": "cs-winback", "window_days": 14, "reply_required": False,
                        "eligible_orders": "renewal"},
            "winback2": {"kind": "touch", "tag": " CS-Winback ", "window_days": 7, "reply_required": False,
                         "eligible_orders": "renewal"},
        },
        "attribution_priority": ["winback", "winback2"],
    }  # fmt: skip
    with pytest.raises(
        DbtFailed, match="campaigns 'winback' and 'winback2' declare the same helpdesk tag 'cs-winback'"
    ):
        run_dbt("compile", select=["int_campaigns_declared"], variables=declared, quiet=True)
