"""The simulated company: deterministic, plausible, and its answer key internally consistent."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.answer_key import AnswerKey, write
from sandbox.simulate import generate
from sandbox.tables import SCHEMAS, read_table


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_scale_and_seed_give_byte_identical_files(tiny, tmp_path):
    again = tmp_path / "again"
    generate("tiny", 1, again)
    assert digest(again) == digest(tiny)
    other = tmp_path / "other"
    generate("tiny", 2, other)
    assert digest(other)["shopify_orders/part-0.parquet"] != digest(tiny)["shopify_orders/part-0.parquet"]


def test_every_table_and_finance_input_is_written(tiny):
    for table in SCHEMAS:
        assert read_table(tiny, table).num_rows > 0, table
    for name in ("cs_costs", "product_costs", "agent_coupons", "fx_rates", "cs_settings"):
        assert (tiny / "finance" / f"{name}.csv").stat().st_size > 0


def test_versions_never_share_an_update_time_for_one_record(tiny):
    for table in ("gorgias_tickets", "recharge_charges", "shopify_orders", "easypost_claims"):
        t = read_table(tiny, table)
        pairs = list(zip(t.column("id").to_pylist(), t.column("v_from").to_pylist(), strict=True))
        assert len(pairs) == len(set(pairs)), table


def test_the_story_is_in_the_data(tiny):
    """The cases the rules care about all occur: CAD orders, failures, cancellations, trashed tickets, ..."""
    orders = read_table(tiny, "shopify_orders").to_pylist()
    assert {o["currency"] for o in orders} == {"USD", "CAD"}
    assert any(o["cancelled_at"] for o in orders) and any(o["test"] for o in orders)
    assert any("replacement" in (o["tags"] or "") for o in orders)
    charges = read_table(tiny, "recharge_charges").to_pylist()
    assert any(c["error_type"] == "CLOSED_MAX_RETRIES_REACHED" for c in charges)
    assert any(c["status"] == "success" and c["charge_attempts"] > 1 for c in charges)
    messages = read_table(tiny, "gorgias_messages").to_pylist()
    assert any(m["via"] == "rule" for m in messages) and any(not m["public"] for m in messages)
    emails = [c["email"] for c in read_table(tiny, "gorgias_customers").to_pylist()]
    assert any(e != e.lower() for e in emails)
    shipments = read_table(tiny, "easypost_shipments").to_pylist()
    refs = {s["reference"][:1] for s in shipments}
    assert "#" in refs and " " in refs
    assert any(s["refund_status"] == "refunded" for s in shipments)
    statuses = {c["status"] for c in read_table(tiny, "easypost_claims").to_pylist()}
    assert {"approved", "rejected", "in_review"} <= statuses


def test_refunds_and_tags_exercise_rule_version_2_and_tag_matching(tiny):
    """Refunds give back tax, shipping and goodwill (refund_discrepancy), so the answer key's revenue reversal and
    money returned differ; a fully refunded attributed order nets to zero revenue; campaign tags come in other
    case and with spaces, and still make touches."""
    key = AnswerKey(tiny)
    facts = key.refund_facts
    assert any(f["reversal"] < f["amount"] for f in facts)  # tax or shipping returned, not revenue
    refunds = read_table(tiny, "shopify_refunds").to_pylist()
    assert any(r["shipping_cents"] for r in refunds) and any(r["discrepancy_cents"] for r in refunds)
    assert any(li["tax_cents"] for li in read_table(tiny, "shopify_refund_line_items").to_pylist())
    net = defaultdict(lambda: Decimal(0))
    for row in key.fct_attributed_orders():
        net[row["order_id"]] += row["net_revenue"]
    full = {f["order_id"] for f in facts if key.orders[f["order_id"]]["financial_status"] == "refunded"}
    assert full & set(net) and all(net[o] == 0 for o in full & set(net))
    tags = {t["tags"] for t in read_table(tiny, "gorgias_tickets").to_pylist()}
    assert {"CS-Upsell-Welcome", " cs-upsell-welcome ", "CS-Winback"} <= tags
    touched = {t["ticket_id"] for t in key.touches}
    variant = [t["id"] for t in key.tickets if t["tags"] == "CS-Winback" and not t["spam"] and t["trashed"] is None]
    assert variant and set(variant) <= touched


def check_identities(key: AnswerKey) -> None:
    wide = key.cs_pnl_wide()
    campaigns = [c.key for c in key.rules.campaigns]
    fct = key.fct_attributed_orders()
    agents = key.agent_performance()
    for row in wide:
        m = row["month"]
        revenue = sum((row[f"revenue_{c}"] for c in campaigns), Decimal(0))
        assert row["gross_profit"] == revenue - row["cogs_attributed"]
        assert row["net_contribution"] == (
            row["gross_profit"]
            + row["carrier_claims_income"]
            - row["cost_staffing"]
            - row["cost_platform"]
            - row["cost_other"]
            - row["refund_replacement_charge"]
        )
        assert row["is_profit_center"] == (row["net_contribution"] > 0)
        for c in campaigns:  # drill-down: the P&L line is the sum of its fct rows, and of the agents' rows
            assert row[f"revenue_{c}"] == sum(
                (x["net_revenue"] for x in fct if x["booked_month"] == m and x["campaign"] == c), Decimal(0)
            )
            assert row[f"revenue_{c}"] == sum(
                (a["attributed_revenue"] for a in agents if a["month"] == m and a["campaign"] == c), Decimal(0)
            )
    assert len({(x["order_id"], x["refund_id"]) for x in fct}) == len(fct)
    assert len({x["order_id"] for x in fct if x["row_type"] == "order"}) == len(key.attributed)
    for p in key.campaign_performance():
        assert p["replied"] <= p["contacted"]
        assert p["gross_margin"] == p["revenue"] - p["cogs"]
    for w in key.winback_cohorts():
        assert w["cohort_size"] == w["failed"] - w["recovered_by_dunning"]
        assert w["saved"] <= w["contacted"] <= w["cohort_size"] <= w["failed"] <= w["renewals"]
    months = [r["month"] for r in wide]
    assert months == sorted(set(months))


def test_answer_key_identities_hold_at_tiny(tiny, tmp_path):
    key = AnswerKey(tiny)
    check_identities(key)
    write(key.marts(), tmp_path / "key")
    for name in (
        "cs_pnl_monthly",
        "cs_pnl_monthly_wide",
        "campaign_performance_monthly",
        "agent_performance_monthly",
        "winback_cohorts",
        "carrier_claims_monthly",
        "fct_attributed_orders",
        "fct_campaign_touches",
    ):
        lines = (tmp_path / "key" / f"{name}.csv").read_text().splitlines()
        assert len(lines) > 1, name


def test_advancing_the_clock_reveals_more_data(tiny):
    from sandbox.calendar import DAY

    now, later = AnswerKey(tiny), AnswerKey(tiny, as_of=AnswerKey(tiny).as_of + 3 * DAY)
    assert len(later.orders) > len(now.orders)
    assert len(later.months) == len(now.months) + 1  # the new month opens


@pytest.mark.slow
def test_demo_scale_lands_near_the_reference_figures(tmp_path):
    """Business rules §1: ~1,700 contacted, ~23% upsell conversion, ~70 saved and ~20% win-back save rate."""
    folder = tmp_path / "demo"
    manifest = generate("demo", 1, folder)
    key = AnswerKey(folder)
    check_identities(key)
    full_months = manifest["months"][:-1]  # the last month's windows are still open at the clock
    perf = defaultdict(dict)
    for p in key.campaign_performance():
        perf[p["campaign"]][p["month"]] = p
    for m in full_months:
        up = perf["upsell"][m]
        assert 1_450 <= up["contacted"] <= 1_800
        assert Decimal("0.19") <= up["conversion_rate"] <= Decimal("0.27"), (m, up)
    cohorts = [w for w in key.winback_cohorts() if w["renewal_month"] in full_months]
    saved = sum(w["saved"] for w in cohorts)
    cohort = sum(w["cohort_size"] for w in cohorts)
    assert 0.15 <= saved / cohort <= 0.25
    assert 40 <= saved / len(cohorts) <= 100
    assert {r["is_profit_center"] for r in key.cs_pnl_wide()} == {True, False}
