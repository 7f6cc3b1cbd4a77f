"""What every vendor client has in common: a session built from a connection, and `pages()`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec

from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import RateLimit, Response, VendorSession


class PageItem(msgspec.Struct):
    """What paging reads of a record (item_shape declares it per endpoint): `key`, and `order` where the endpoint
    has an order field; None when absent."""


NOT_AN_OBJECT = str | int | float | bool | None | list  # such a record decodes as itself: landing quarantines it


@dataclass(frozen=True)
class Page:
    records: list[msgspec.Raw]  # each record's bytes as the vendor sent them (views into the body): what lands


@cache
def page_shape(envelope: str, fields: tuple[str, ...]) -> msgspec.json.Decoder:
    """A decoder of pages that splits the records under the envelope into their exact bytes (`.items`,
    msgspec.Raw) and reads the body's `fields` (cursors). Every byte is checked to be JSON, but no record is
    built as Python objects (landing parses them in DuckDB anyway) nor re-serialised for landing (DECISIONLOG,
    Ingest)."""
    body = [("items", list[msgspec.Raw]), *((f, Any, None) for f in fields)]
    return msgspec.json.Decoder(msgspec.defstruct(f"{envelope}_page", body, rename={"items": envelope}))


@cache
def item_shape(key: str, order_field: str) -> msgspec.json.Decoder:
    """A decoder of one record into the PageItem paging reads."""
    fields, rename = [("key", Any, None)], {"key": key}
    if order_field:
        fields.append(("order", Any, None))
        rename["order"] = order_field
    item = msgspec.defstruct(f"{key}_{order_field}_item", fields, bases=(PageItem,), rename=rename)
    return msgspec.json.Decoder(item | NOT_AN_OBJECT)


class Client:
    conn_id: str  # the Airflow connection this vendor is configured by
    endpoints: tuple[Endpoint, ...]
    rate: RateLimit | None  # the vendor's published limit for a standard account
    page_fields: tuple[str, ...] = ()  # what paging reads of a page's body besides its records

    def __init__(self, conn: Connection):
        self.conn = conn
        self.rate = rate_for(conn, type(self).rate)
        self.session = self.make_session(conn)

    def make_session(self, conn: Connection) -> VendorSession:
        raise NotImplementedError

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        """Every page of `ep` whose records may have changed in [since, until] (None: unbounded)."""
        raise NotImplementedError

    def fetch(self, ep: Endpoint, url: str, params: dict | None) -> Response:
        """One page of `ep`, its body decoded by page_shape: the records as `.items`, and the client's
        page_fields. A body without the envelope's list fails as MalformedPage."""
        return self.session.get(url, params, page_shape(ep.envelope, self.page_fields))

    @staticmethod
    def item(ep: Endpoint, record: msgspec.Raw) -> PageItem | object:
        """What paging reads of one record: a PageItem, or the record itself when it is not an object."""
        return item_shape(ep.key, ep.order_field).decode(record)


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
