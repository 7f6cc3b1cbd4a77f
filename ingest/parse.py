"""Tolerant parsing of vendor timestamps: every wire form to UTC (records are checked in SQL, see endpoints)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ts(value: object) -> datetime:
    """ISO-8601 with `Z`, an offset, or none (= UTC), with or without a fraction; bare dates too. UTC out."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


class InvalidInstant(ValueError):
    """A parameter that must name an instant (as_of, --start, --end) is not ISO 8601."""


def parse_instant(value: object, parameter: str = "as_of") -> datetime:
    """The one parser of instants given from outside (CLI, DAG conf, environment): a UTC datetime, or
    InvalidInstant naming the parameter and the expected form. Its result is what reaches SQL (dbt's
    as_of, windows), so crafted text never does."""
    try:
        return parse_ts(value)
    except (ValueError, TypeError):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise InvalidInstant(
            f"{parameter} must be an ISO 8601 instant such as 2026-09-01T05:00:00Z (got {shown})"
        ) from None


def instant_text(value: object, parameter: str = "as_of") -> str:
    """parse_instant, written back as canonical ISO 8601 in UTC (e.g. 2026-09-01T05:00:00+00:00)."""
    return parse_instant(value, parameter).isoformat()
