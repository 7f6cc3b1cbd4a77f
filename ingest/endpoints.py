"""An endpoint is a declaration: where it lives, its key, its version time, how it pages, what is valid.

Vendor packages declare their endpoints with `Endpoint(...)`; the shared extractor, validator
and loader read these declarations, so a new endpoint is a few lines, not a new module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from ingest.parse import parse_ts


@dataclass(frozen=True)
class Endpoint:
    vendor: str
    entity: str  # lands in raw_<vendor>.<entity>
    path: str
    envelope: str  # where the list is in a response body
    version_fields: tuple[str, ...]  # the record's version time = the latest of these timestamps
    incremental: bool = True  # False: every run reads everything (small, or no usable filter)
    page_size: int = 100
    lookback: timedelta = timedelta(hours=6)  # overlap with the previous run, for late updates
    key: str = "id"
    order_field: str = ""  # the field a server-side sort / stop condition uses (vendor specific)
    params: dict = field(default_factory=dict)  # fixed query parameters of the first request
    required: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    money: tuple[str, ...] = ()
    enums: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.vendor}.{self.entity}"


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((p[:-2], True) if p.endswith("[]") else (p, False) for p in path.split("."))


def values_at(record: object, path: str) -> list:
    """Values at a dotted path; `items[]` walks every element of a list. Missing parts give []."""
    current = [record]
    for name, many in _steps(path):
        nxt = []
        for obj in current:
            if not isinstance(obj, dict) or name not in obj:
                continue
            v = obj[name]
            if many:
                nxt.extend(v if isinstance(v, list) else [])
            else:
                nxt.append(v)
        current = nxt
    return current


Checker = Callable[[object], tuple[datetime | None, str | None]]
_CHECKERS: dict[int, tuple[Endpoint, Checker]] = {}


def _ts_ok(v: object) -> bool:
    try:
        datetime.fromisoformat(v)  # C-fast; offsets, Z, fractions, naive and bare dates
        return True
    except (ValueError, TypeError):
        return False


def _money_ok(v: object) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return math.isfinite(v)
    try:
        return Decimal(v).is_finite()
    except (InvalidOperation, TypeError):
        return False


def _getter(path: str) -> Callable[[dict], list]:
    if "." in path or "[]" in path:
        return lambda record: values_at(record, path)
    return lambda record: [record[path]] if path in record else []


def compile_checker(ep: Endpoint) -> Checker:
    """One closure per endpoint with every lookup decided up front: the per-record cost is the hot path."""
    required = [(p, _getter(p)) for p in ep.required]
    typed = [
        (p, _getter(p), ok, what)
        for paths, ok, what in ((ep.timestamps, _ts_ok, "timestamp"), (ep.money, _money_ok, "amount"))
        for p in paths
    ]
    enums = [(p, _getter(p), allowed) for p, allowed in ep.enums.items()]
    versions = [_getter(p) for p in ep.version_fields]
    key = ep.key

    def check(record: object) -> tuple[datetime | None, str | None]:
        if not isinstance(record, dict):
            return None, f"record is a {type(record).__name__}, not an object"
        if record.get(key) in (None, ""):
            return None, f"missing primary key '{key}'"
        for path, get in required:
            found = get(record)
            if not found or None in found:
                return None, f"missing required field '{path}'"
        for path, get, ok, what in typed:
            for v in get(record):
                if v is not None and not ok(v):
                    return None, f"field '{path}': unparseable {what} {v!r}"
        for path, get, allowed in enums:
            for v in get(record):
                if v is not None and v not in allowed:
                    return None, f"field '{path}': {v!r} is not one of the documented values"
        stamps = [v for get in versions for v in get(record) if v is not None]
        if not stamps:
            return None, None
        return max(parse_ts(v) for v in stamps), None

    return check


def check_record(ep: Endpoint, record: object) -> tuple[datetime | None, str | None]:
    """(version time, None) for a valid record, (None, reason) for one to quarantine."""
    entry = _CHECKERS.get(id(ep))
    if entry is None or entry[0] is not ep:
        entry = _CHECKERS[id(ep)] = (ep, compile_checker(ep))
    return entry[1](record)
