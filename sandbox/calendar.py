"""Time arithmetic for the simulation: integer microseconds since the epoch, UTC.

The simulation works in integers (fast, exact); store-local calendar questions
(which month, which local day) go through the store's time zone here, once.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
FOREVER = 2**62  # "valid until further notice" for record versions

STORE_TZ = ZoneInfo("America/Chicago")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def from_us(ts: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts)


def local_us(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> int:
    """UTC instant of a store-local wall-clock time."""
    return to_us(datetime(y, m, d, hh, mm, ss, tzinfo=STORE_TZ))


def month_start_us(y: int, m: int) -> int:
    return local_us(y, m, 1)


def add_months(y: int, m: int, n: int) -> tuple[int, int]:
    k = y * 12 + (m - 1) + n
    return k // 12, k % 12 + 1


def month_label(y: int, m: int) -> str:
    return f"{y:04d}-{m:02d}"


@lru_cache(maxsize=8)
def _offsets(first_year: int, last_year: int) -> tuple[list[int], list[int]]:
    """UTC instants at which the store's UTC offset changes, and the offset after each."""
    starts, offsets = [], []
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    prev = None
    while t < end:
        off = int(t.astimezone(STORE_TZ).utcoffset().total_seconds()) * US
        if off != prev:
            starts.append(to_us(t))
            offsets.append(off)
            prev = off
        t += timedelta(hours=1)
    return starts, offsets


def local_offset_us(ts: int) -> int:
    starts, offsets = _offsets(2020, 2030)
    i = bisect.bisect_right(starts, ts) - 1
    return offsets[max(i, 0)]


def local_date(ts: int) -> date:
    return (EPOCH + timedelta(microseconds=ts + local_offset_us(ts))).date()


def local_month(ts: int) -> str:
    d = local_date(ts)
    return month_label(d.year, d.month)


@lru_cache(maxsize=65_536)
def date_us(d: date) -> int:
    """Local midnight of a calendar date, as a UTC instant."""
    return local_us(d.year, d.month, d.day)


def end_of_local_day_us(d: date) -> int:
    """Last microsecond of a local calendar day."""
    return date_us(d + timedelta(days=1)) - 1
