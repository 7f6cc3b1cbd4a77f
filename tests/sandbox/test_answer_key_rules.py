"""The answer key is the oracle for the marts, so each business rule is pinned here on a hand-built world."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.answer_key import AnswerKey, DataQualityError, Rules
from sandbox.calendar import DAY, US
from tests.sandbox.world import AGENT, OTHER_AGENT, World, t

UPSELL, WINBACK = "cs-upsell-welcome", "cs-winback"


@pytest.fixture
def world() -> World:
    w = World()
    w.agents()
    return w


def key(w: World, tmp_path) -> AnswerKey:
    return AnswerKey(w.write(tmp_path / "world"))


def attributed(k: AnswerKey) -> dict[int, str]:
    return {oid: a["campaign"] for oid, a in k.attributed.items()}


def test_upsell_window_is_inclusive_at_the_end(world, tmp_path):
    touch = t(2026, 2, 3, 10)
    on_edge = world.customer("a@x.com", 1)
    world.touch(on_edge, UPSELL, touch, replies=(touch + 3600 * US,))
    at_end = world.order(on_edge, touch + 7 * DAY)
    late = world.customer("b@x.com", 11)
    world.touch(late, UPSELL, touch, replies=(touch + 3600 * US,))
    one_second_late = world.order(late, touch + 7 * DAY + US * 1)
    got = attributed(key(world, tmp_path))
    assert got.get(at_end) == "upsell"
    assert one_second_late not in got


def test_upsell_needs_the_reply_before_the_order_but_the_reply_still_counts(world, tmp_path):
    touch = t(2026, 2, 3, 10)
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, touch, replies=(touch + 2 * DAY,))
    early = world.order(c, touch + DAY)
    k = key(world, tmp_path)
    assert early not in k.attributed
    assert k.touches[0]["replied"] is True


def test_an_order_at_or_before_the_touch_never_qualifies(world, tmp_path):
    touch = t(2026, 2, 3, 10)
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, touch, replies=(touch - DAY, touch + 60 * US))
    at_touch = world.order(c, touch)
    assert at_touch not in key(world, tmp_path).attributed


def test_latest_qualifying_touch_wins_and_credits_its_agent(world, tmp_path):
    c = world.customer("a@x.com", 1)
    first = world.touch(c, UPSELL, t(2026, 2, 3, 10), AGENT, replies=(t(2026, 2, 3, 12),))
    second = world.touch(c, UPSELL, t(2026, 2, 5, 10), OTHER_AGENT, replies=(t(2026, 2, 5, 12),))
    oid = world.order(c, t(2026, 2, 6))
    win = key(world, tmp_path).attributed[oid]
    assert (win["ticket_id"], win["agent_email"]) == (second, OTHER_AGENT["email"])
    assert first != second


def test_priority_upsell_over_coupon_and_coupon_alone(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 2, 3, 10), replies=(t(2026, 2, 3, 12),))
    both = world.order(c, t(2026, 2, 4), code="ava10")
    d = world.customer("d@x.com", 21)
    coupon_only = world.order(d, t(2026, 2, 4), code="Ava10")
    got = attributed(key(world, tmp_path))
    assert got[both] == "upsell"
    assert got[coupon_only] == "coupon"


def test_coupon_validity_uses_the_local_date_inclusive(world, tmp_path):
    world.finance["agent_coupons.csv"].append(["OLD5", AGENT["email"], "2025-01-01", "2026-01-31"])
    c = world.customer("a@x.com", 1)
    last_day_local = world.order(c, t(2026, 1, 31, 23, 30), code="OLD5")  # 05:30 UTC on Feb 1st
    next_day = world.order(c, t(2026, 2, 1, 0, 30), code="OLD5")
    got = attributed(key(world, tmp_path))
    assert got.get(last_day_local) == "coupon"
    assert next_day not in got


def test_renewal_orders_are_never_upsell_and_winback_takes_the_first_renewal_after_the_touch(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.renewal(c, (2026, 1, 15), "error", 5, None)  # failed and never paid: cohort
    touch = t(2026, 1, 28, 10)
    world.touch(c, WINBACK, touch)
    world.touch(c, UPSELL, touch, replies=(touch + 60 * US,))
    first = world.order(c, touch + 2 * DAY, tags="Subscription, Subscription Recurring Order")
    second = world.order(c, touch + 3 * DAY, tags="Subscription, Subscription Recurring Order")
    world.renewal(c, (2026, 2, 15), "success", 1, touch + 2 * DAY, order_id=first)
    world.renewal(c, (2026, 3, 15), "success", 1, touch + 3 * DAY, order_id=second)
    got = attributed(key(world, tmp_path))
    assert got[first] == "winback"
    assert second not in got


def test_cancelled_and_replacement_orders_are_never_attributed(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 2, 3, 10), replies=(t(2026, 2, 3, 12),))
    cancelled = world.order(c, t(2026, 2, 4), cancelled_at=t(2026, 2, 4, 5))
    replacement = world.order(c, t(2026, 2, 4, 6), subtotal=0, tags="replacement")
    k = key(world, tmp_path)
    assert cancelled not in k.attributed and replacement not in k.attributed
    # ...but the replacement's COGS is charged to CS at the refund share (goods 20.00 x 10%).
    feb = next(r for r in k.cs_pnl_wide() if r["month"] == "2026-02")
    assert feb["refund_replacement_charge"] == Decimal("2.00")


def test_refund_in_a_later_month_is_booked_then_and_the_identity_holds(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 1, 20, 10), replies=(t(2026, 1, 20, 12),))
    oid = world.order(c, t(2026, 1, 22), subtotal=10_000)
    world.refund(oid, t(2026, 2, 10), 2_500)
    world.refund(oid, t(2026, 2, 11), 999, status="failure")  # not money back: ignored
    k = key(world, tmp_path)
    rows = {r["row_type"]: r for r in k.fct_attributed_orders()}
    assert rows["refund"]["booked_month"] == "2026-02" and rows["refund"]["net_revenue"] == Decimal("-25.00")
    pnl = {r["month"]: r for r in k.cs_pnl_wide()}
    assert pnl["2026-01"]["revenue_upsell"] == Decimal("100.00")
    assert pnl["2026-02"]["revenue_upsell"] == Decimal("-25.00")
    for r in pnl.values():
        assert r["net_contribution"] == (
            r["gross_profit"]
            + r["carrier_claims_income"]
            - r["cost_staffing"]
            - r["cost_platform"]
            - r["cost_other"]
            - r["refund_replacement_charge"]
        )


def test_full_refund_of_a_taxed_shipped_order_nets_revenue_to_zero_and_charges_the_money_returned(world, tmp_path):
    """Rule version 2 (§2): revenue reverses the refunded goods, pre-tax; §6 charges the money returned."""
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 1, 20, 10), replies=(t(2026, 1, 20, 12),))
    oid = world.order(c, t(2026, 1, 22), subtotal=10_000, tax=825, shipping=599)
    world.refund(oid, t(2026, 2, 10), 10_000, tax=825, shipping=599)  # everything back: 114.24
    k = key(world, tmp_path)
    refund = next(r for r in k.fct_attributed_orders() if r["row_type"] == "refund")
    assert (refund["net_revenue"], refund["amount_original"], refund["rule_version"]) == (
        Decimal("-100.00"),
        Decimal("-100.00"),
        "v2",
    )
    pnl = {r["month"]: r for r in k.cs_pnl_wide()}
    assert pnl["2026-01"]["revenue_upsell"] + pnl["2026-02"]["revenue_upsell"] == 0  # not -14.24
    assert pnl["2026-02"]["refund_replacement_charge"] == Decimal("11.42")  # 10% of 114.24 returned


def test_refund_discrepancy_reverses_revenue_by_its_size_and_tax_never_does(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 1, 20, 10), replies=(t(2026, 1, 20, 12),))
    oid = world.order(c, t(2026, 1, 22), subtotal=10_000, tax=825)
    goodwill = world.refund(oid, t(2026, 2, 10), 0, discrepancy=500)  # money back tied to no item
    item = world.refund(oid, t(2026, 2, 12), 2_500, tax=206, discrepancy=300)  # 30.06 returned
    k = key(world, tmp_path)
    rows = {r["refund_id"]: r["net_revenue"] for r in k.fct_attributed_orders() if r["row_type"] == "refund"}
    assert rows == {goodwill: Decimal("-5.00"), item: Decimal("-28.00")}
    feb = next(r for r in k.cs_pnl_wide() if r["month"] == "2026-02")
    assert feb["revenue_upsell"] == Decimal("-33.00")
    assert feb["refund_replacement_charge"] == Decimal("3.51")  # 10% of 35.06


def test_rule_version_1_still_reverses_the_money_returned(world, tmp_path):
    """A month closed under v1 was computed this way; v1 stays reproducible."""
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 1, 20, 10), replies=(t(2026, 1, 20, 12),))
    oid = world.order(c, t(2026, 1, 22), subtotal=10_000, tax=825, shipping=599)
    world.refund(oid, t(2026, 2, 10), 10_000, tax=825, shipping=599)
    k = AnswerKey(world.write(tmp_path / "world"), rules=Rules(rule_version="v1"))
    refund = next(r for r in k.fct_attributed_orders() if r["row_type"] == "refund")
    assert (refund["net_revenue"], refund["rule_version"]) == (Decimal("-114.24"), "v1")


def test_campaign_tags_match_ignoring_case_and_surrounding_spaces(world, tmp_path):
    up, back = world.customer("a@x.com", 1), world.customer("b@x.com", 2)
    world.touch(up, " CS-Upsell-Welcome ", t(2026, 2, 3, 10), replies=(t(2026, 2, 3, 12),))
    world.touch(back, "urgent,CS-Winback", t(2026, 2, 3, 10))
    world.touch(back, "cs-winback-old", t(2026, 2, 3, 11))  # another tag that merely starts alike
    k = key(world, tmp_path)
    assert sorted((x["campaign"], x["customer_key"]) for x in k.touches) == [("upsell", "1"), ("winback", "2")]


def test_missing_sku_cost_and_missing_fx_rate_fail_instead_of_counting_zero(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.order(c, t(2026, 2, 4), sku="UNKNOWN-SKU")
    with pytest.raises(DataQualityError, match="UNKNOWN-SKU"):
        key(world, tmp_path)
    w2 = World()
    c2 = w2.customer("a@x.com", 1)
    w2.order(c2, t(2026, 4, 4), currency="EUR")
    w2.clock = t(2026, 5, 1)
    with pytest.raises(DataQualityError, match="EUR"):
        AnswerKey(w2.write(tmp_path / "w2"))


def test_month_is_the_store_local_month_not_utc(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 1, 28, 10), replies=(t(2026, 1, 28, 12),))
    oid = world.order(c, t(2026, 1, 31, 22))  # Feb 1st 04:00 UTC
    k = key(world, tmp_path)
    assert k.fact[oid]["month"] == "2026-01"


def test_cad_order_converts_at_the_order_month_rate_rounded_half_up(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 2, 3, 10), replies=(t(2026, 2, 3, 12),))
    oid = world.order(c, t(2026, 2, 4), subtotal=1_001, currency="CAD")  # 10.01 CAD x 0.75 = 7.5075
    assert key(world, tmp_path).fact[oid]["net"] == Decimal("7.51")


def test_dunning_ends_at_the_end_of_the_local_27th(world, tmp_path):
    c = world.customer("a@x.com", 1)
    d = world.customer("d@x.com", 21)
    world.renewal(c, (2026, 1, 15), "success", 5, t(2026, 1, 27, 23, 59))
    world.renewal(d, (2026, 1, 15), "success", 6, t(2026, 1, 28, 0, 1))
    row = key(world, tmp_path).winback_cohorts()[0]
    assert (row["renewals"], row["failed"], row["recovered_by_dunning"], row["cohort_size"]) == (2, 2, 1, 1)


def test_customer_identity_ignores_email_case_and_spaces(world, tmp_path):
    c = world.customer("jane@x.com", 7, gorgias_email=" Jane@X.com ")
    world.touch(c, UPSELL, t(2026, 2, 3, 10), replies=(t(2026, 2, 3, 12),))
    oid = world.order(c, t(2026, 2, 4))
    k = key(world, tmp_path)
    assert k.touches[0]["customer_key"] == "7"
    assert k.attributed[oid]["campaign"] == "upsell"


def test_trashed_spam_automation_failed_and_internal_messages_are_not_touches(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 2, 3, 10), trashed=t(2026, 2, 4))
    world.touch(c, UPSELL, t(2026, 2, 3, 11), spam=True)
    tid = 20_000_999
    world.add("gorgias_tickets", id=tid, customer_id=c["gorgias_id"], tags=UPSELL, spam=False, created=t(2026, 2, 3))
    for extra in (
        {"via": "rule", "rule_id": 9001},
        {"failed": t(2026, 2, 3, 1), "sent": None},
        {"public": False, "channel": "internal-note"},
    ):
        msg = {"via": "helpdesk", "public": True, "sent": t(2026, 2, 3, 1), **extra}
        world.add(
            "gorgias_messages",
            id=world.nid() + 400_000_000,
            ticket_id=tid,
            from_agent=True,
            sender_id=AGENT["id"],
            created=t(2026, 2, 3),
            **msg,
        )
    assert key(world, tmp_path).touches == []


def test_claims_income_in_the_month_of_approval_and_cancelled_claims_nowhere(world, tmp_path):
    world.add(
        "easypost_shipments",
        id="shp_1",
        mode="production",
        reference="#1",
        carrier="UPS",
        rate_cents=700,
        created=t(2026, 1, 5),
    )
    for cid, status, approved, ts in (
        ("clm_1", "approved", 4000, t(2026, 3, 2)),
        ("clm_2", "approved_partial", 1500, t(2026, 2, 27)),
        ("clm_3", "cancelled", None, t(2026, 2, 27)),
        ("clm_4", "rejected", None, t(2026, 2, 20)),
    ):
        world.add(
            "easypost_claims",
            id=cid,
            type="loss",
            status=status,
            requested_cents=5000,
            approved_cents=approved,
            shipment_id="shp_1",
            mode="production",
            created=t(2026, 1, 20),
            status_ts=ts,
            v_from=ts,
        )
    rows = {(r["month"], r["claims_submitted"]): r for r in key(world, tmp_path).claims_rows()}
    assert {m for m, _ in rows} == {"2026-02", "2026-03"}
    feb = rows[("2026-02", 2)]
    assert (feb["claims_approved"], feb["claims_rejected"], feb["amount_approved"]) == (1, 1, Decimal("15.00"))
    assert rows[("2026-03", 1)]["amount_approved"] == Decimal("40.00")


def test_versions_after_the_clock_are_invisible(world, tmp_path):
    c = world.customer("a@x.com", 1)
    world.touch(c, UPSELL, t(2026, 3, 28, 10), replies=(t(2026, 3, 28, 12),))
    world.order(c, t(2026, 4, 2))  # after the clock (April 1st)
    assert key(world, tmp_path).attributed == {}
