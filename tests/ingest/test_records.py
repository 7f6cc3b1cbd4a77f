"""Parsing vendor values and checking records before they land."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.endpoints import Endpoint, check_record
from ingest.parse import parse_ts
from ingest.recharge import ENDPOINTS as RECHARGE
from ingest.shopify import ENDPOINTS as SHOPIFY

CHARGES = next(e for e in RECHARGE if e.entity == "charges")
ORDERS = next(e for e in SHOPIFY if e.entity == "orders")


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-15T10:59:29+00:00",
        "2026-03-15T10:59:29.000000+00:00",
        "2026-03-15T10:59:29Z",
        "2026-03-15T05:59:29-05:00",
        "2026-03-15T10:59:29",
    ],
)
def test_every_vendor_timestamp_form_is_the_same_utc_instant(text):
    assert parse_ts(text) == datetime(2026, 3, 15, 10, 59, 29, tzinfo=UTC)


def test_garbage_timestamps_are_refused():
    for bad in ("", "15/03/2026", None, 5):
        with pytest.raises(ValueError):
            parse_ts(bad)


def charge(**over):
    base = {
        "id": 1,
        "customer": {"id": 7},
        "currency": "USD",
        "scheduled_at": "2026-03-15T00:00:00",
        "status": "success",
        "type": "recurring",
        "created_at": "2026-03-08T10:00:00+00:00",
        "updated_at": "2026-03-15T10:00:00+00:00",
        "processed_at": "2026-03-15T10:00:00+00:00",
        "total_price": "49.00",
        "line_items": [{"unit_price": "49.00"}],
    }
    return {**base, **over}


@pytest.mark.parametrize("value", ["29.20", 12.5, 7, "0.01000", None])  # None: an absent optional amount
def test_money_in_any_wire_form_is_accepted(value):
    assert check_record(CHARGES, charge(total_price=value))[1] is None


@pytest.mark.parametrize("bad", ["12,50", "NaN", "inf", True, "abc"])
def test_bad_money_is_refused(bad):
    assert "field 'total_price': unparseable amount" in check_record(CHARGES, charge(total_price=bad))[1]


def test_bare_dates_are_valid_timestamps_and_other_date_forms_are_not():
    assert check_record(CHARGES, charge(scheduled_at="2026-03-15"))[1] is None
    assert "unparseable timestamp" in check_record(CHARGES, charge(scheduled_at="15/03/2026"))[1]


def test_a_valid_record_gets_its_version_time():
    version, problem = check_record(CHARGES, charge())
    assert problem is None and version == datetime(2026, 3, 15, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"id": None}, "primary key"),
        ({"updated_at": None}, "required field 'updated_at'"),
        ({"processed_at": "yesterday"}, "unparseable timestamp"),
        ({"total_price": "4,90"}, "unparseable amount"),
        ({"line_items": [{"unit_price": "x"}]}, "line_items[].unit_price"),
        ({"status": "SUCCESS"}, "documented values"),  # 2021-01 upper case: a version drift, quarantined
    ],
)
def test_invalid_records_are_quarantined_with_a_reason(over, reason):
    version, problem = check_record(CHARGES, charge(**over))
    assert version is None and reason in problem


def test_new_fields_are_kept_and_missing_optional_fields_are_fine():
    record = charge(brand_new_field={"x": 1})
    del record["processed_at"]
    assert check_record(CHARGES, record)[1] is None


GQL_ORDER = {"legacyResourceId": "1", "name": "#1001", "createdAt": "2026-01-01T06:00:00Z",
             "updatedAt": "2026-01-01T06:00:00Z", "currencyCode": "USD", "displayFinancialStatus": "PAID",
             "subtotalPriceSet": {"shopMoney": {"amount": "49.00"}}}  # fmt: skip


def shop_money(amount: object) -> dict:
    return {"shopMoney": {"amount": amount, "currencyCode": "USD"}}


def test_nested_paths_walk_lists():
    def refund(*amounts: str) -> dict:
        return {"transactions": {"nodes": [{"amountSet": shop_money(a)} for a in amounts]}}

    good = {"refunds": [refund("1.00", "2.00"), refund()]}
    bad = {"refunds": [refund("1.00"), refund("x")]}
    assert check_record(ORDERS, {**GQL_ORDER, **good})[1] is None  # no lineItems at all is fine too
    assert check_record(ORDERS, {**GQL_ORDER, **bad})[1] == (
        "field 'refunds[].transactions.nodes[].amountSet.shopMoney.amount': unparseable amount x"
    )


def test_a_path_declared_both_as_a_value_and_as_an_object_is_refused():
    ep = Endpoint("v", "e", "/e", "e", version_fields=("updated_at",), timestamps=("a", "a.b"))
    with pytest.raises(ValueError, match="conflicts"):
        check_record(ep, {"id": 1})


def test_a_refunds_goods_and_adjustments_must_be_money():
    """§2's revenue reversal reads them: a bad one is quarantined at landing, not a cast error in dbt."""
    lines = {"nodes": [{"quantity": 1, "subtotalSet": shop_money("25.00")}]}
    adjustments = {"nodes": [{"reason": "REFUND_DISCREPANCY", "amountSet": shop_money("-3.00")}]}
    good = {"refunds": [{"refundLineItems": lines, "orderAdjustments": adjustments}]}
    bad_line = {"refunds": [{"refundLineItems": {"nodes": [{"subtotalSet": shop_money("n/a")}]}}]}
    bad_adjustment = {"refunds": [{"orderAdjustments": {"nodes": [{"amountSet": shop_money("five")}]}}]}
    assert check_record(ORDERS, {**GQL_ORDER, **good})[1] is None
    assert check_record(ORDERS, {**GQL_ORDER, **bad_line})[1] == (
        "field 'refunds[].refundLineItems.nodes[].subtotalSet.shopMoney.amount': unparseable amount n/a"
    )
    assert check_record(ORDERS, {**GQL_ORDER, **bad_adjustment})[1] == (
        "field 'refunds[].orderAdjustments.nodes[].amountSet.shopMoney.amount': unparseable amount five"
    )
