"""What every vendor client has in common: a session built from a connection, and `pages()`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import FatalHTTPError, RateLimit, VendorSession


@dataclass(frozen=True)
class Page:
    items: list  # parsed, for paging decisions
    raw: bytes  # the body as received: what lands, untouched


class MalformedPage(FatalHTTPError):
    """Valid JSON of the wrong shape: not transient, and never silently skipped."""


class Client:
    conn_id: str  # the Airflow connection this vendor is configured by
    endpoints: tuple[Endpoint, ...]
    rate: RateLimit | None  # the vendor's published limit for a standard account

    def __init__(self, conn: Connection):
        self.conn = conn
        self.rate = rate_for(conn, type(self).rate)
        self.session = self.make_session(conn)

    def make_session(self, conn: Connection) -> VendorSession:
        raise NotImplementedError

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        """Every page of `ep` whose records may have changed in [since, until] (None: unbounded)."""
        raise NotImplementedError

    def envelope(self, ep: Endpoint, body: object) -> list:
        items = body.get(ep.envelope) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise MalformedPage(f"{self.conn_id}: {ep.path} returned a page without a '{ep.envelope}' list")
        return items


def iso_utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def rate_for(conn: Connection, default: RateLimit | None) -> RateLimit | None:
    """The account's rate limit: plans differ (Shopify Plus, Gorgias Enterprise), so the connection's extra
    may say `rate_limit_per_second` / `rate_limit_burst`; a rate of 0 turns the client throttle off."""
    per_second = conn.extra.get("rate_limit_per_second")
    if per_second is None:
        return default
    if float(per_second) <= 0:
        return None
    burst = int(conn.extra.get("rate_limit_burst", default.burst if default else 1))
    return RateLimit(float(per_second), burst)
