"""An endpoint is a declaration: where it lives, its key, its version time, how it pages, what is valid.

Vendor packages declare their endpoints with `Endpoint(...)`; the shared extractor, validator
and loader read these declarations, so a new endpoint is a few lines, not a new module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from ingest.parse import parse_money, parse_ts


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


def _unparseable(ep: Endpoint, record: dict) -> str | None:
    for paths, parse, what in ((ep.timestamps, parse_ts, "timestamp"), (ep.money, parse_money, "amount")):
        for path in paths:
            for v in values_at(record, path):
                if v is None:
                    continue
                try:
                    parse(v)
                except (ValueError, TypeError):
                    return f"field '{path}': unparseable {what} {v!r}"
    return None


def check_record(ep: Endpoint, record: object) -> tuple[datetime | None, str | None]:
    """(version time, None) for a valid record, (None, reason) for one to quarantine."""
    if not isinstance(record, dict):
        return None, f"record is a {type(record).__name__}, not an object"
    if record.get(ep.key) in (None, ""):
        return None, f"missing primary key '{ep.key}'"
    for path in ep.required:
        found = values_at(record, path)
        if not found or any(v is None for v in found):
            return None, f"missing required field '{path}'"
    problem = _unparseable(ep, record)
    if problem:
        return None, problem
    for path, allowed in ep.enums.items():
        for v in values_at(record, path):
            if v is not None and v not in allowed:
                return None, f"field '{path}': {v!r} is not one of the documented values"
    versions = [parse_ts(v) for f in ep.version_fields for v in values_at(record, f) if v is not None]
    return (max(versions) if versions else None), None
