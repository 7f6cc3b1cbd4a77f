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
