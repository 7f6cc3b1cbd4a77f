"""Tolerant parsing of vendor wire values: every timestamp form to UTC, money to exact Decimal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation


def parse_ts(value: object) -> datetime:
    """ISO-8601 with `Z`, an offset, or none (= UTC), with or without a fraction; bare dates too. UTC out."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return date.fromisoformat(value[:10]) if len(value) == 10 else parse_ts(value).date()


def parse_money(value: object) -> Decimal:
    """A money string or JSON number to Decimal, never through binary floating point arithmetic."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        d = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return d
