"""Parsing vendor values and checking records before they land."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ingest.endpoints import check_record, values_at
from ingest.parse import parse_date, parse_money, parse_ts
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


def test_bare_dates_stay_dates_and_garbage_is_refused():
    assert parse_date("2026-03-15") == date(2026, 3, 15)
    for bad in ("", "15/03/2026", None, 5):
        with pytest.raises(ValueError):
            parse_ts(bad)


@pytest.mark.parametrize(("value", "expected"), [("29.20", "29.20"), (12.5, "12.5"), (7, "7"), ("0.01000", "0.01")])
def test_money_parses_exactly(value, expected):
    assert parse_money(value) == Decimal(expected)


@pytest.mark.parametrize("bad", ["12,50", "NaN", "inf", True, None, "abc"])
def test_bad_money_is_refused(bad):
    with pytest.raises(ValueError):
        parse_money(bad)


def charge(**over):
    base = {
        "id": 1,
        "status": "success",
        "type": "recurring",
        "created_at": "2026-03-08T10:00:00+00:00",
        "updated_at": "2026-03-15T10:00:00+00:00",
        "processed_at": "2026-03-15T10:00:00+00:00",
        "total_price": "49.00",
        "line_items": [{"unit_price": "49.00"}],
    }
    return {**base, **over}


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


def test_nested_paths_walk_lists():
    order = {"refunds": [{"transactions": [{"amount": "1.00"}, {"amount": "2.00"}]}, {"transactions": []}]}
    assert values_at(order, "refunds[].transactions[].amount") == ["1.00", "2.00"]
    assert values_at(order, "line_items[].price") == []
    assert (
        check_record(
            ORDERS,
            {"id": 1, "created_at": "2026-01-01T00:00:00-06:00", "updated_at": "2026-01-01T00:00:00-06:00", **order},
        )[1]
        is None
    )
