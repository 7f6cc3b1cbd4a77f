"""Gorgias (helpdesk). Cursor pages; tickets have no date filter, so feeds are read newest first
down to the watermark (minus the lookback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ingest.client import Client, Page, PageItem
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import MalformedPage, RateLimit, VendorSession
from ingest.parse import parse_ts

TS = ("created_datetime", "updated_datetime")


def _ep(entity: str, path: str, **kw) -> Endpoint:
    return Endpoint("gorgias", entity, path, "data", page_size=100, **kw)


ENDPOINTS = (
    _ep(
        "tickets",
        "/api/tickets",
        version_fields=("updated_datetime",),
        order_field="updated_datetime",
        required=("created_datetime",),
        timestamps=(*TS, "closed_datetime", "trashed_datetime"),
        enums={"status": frozenset({"open", "closed"})},
    ),
    # Messages only sort by creation; a late sent/failed time is caught by the 3-day lookback.
    _ep(
        "messages",
        "/api/messages",
        version_fields=("created_datetime", "sent_datetime", "failed_datetime"),
        order_field="created_datetime",
        lookback=timedelta(days=3),
        required=("ticket_id", "created_datetime"),
        timestamps=("created_datetime", "sent_datetime", "failed_datetime"),
    ),
    _ep(
        "customers",
        "/api/customers",
        version_fields=("updated_datetime",),
        order_field="updated_datetime",
        timestamps=TS,
    ),
    _ep("users", "/api/users", version_fields=TS, order_field="created_datetime", incremental=False),
    _ep("tags", "/api/tags", version_fields=("created_datetime",), order_field="created_datetime", incremental=False),
    # Surveys have no sort order and shift while read: a full refresh each run (one per ticket, small).
    _ep(
        "satisfaction_surveys",
        "/api/satisfaction-surveys",
        version_fields=("created_datetime", "sent_datetime", "scored_datetime"),
        incremental=False,
        timestamps=("created_datetime", "sent_datetime", "scored_datetime"),
    ),
)


class GorgiasClient(Client):
    conn_id = "gorgias_default"
    endpoints = ENDPOINTS
    rate = RateLimit(per_second=1.9, burst=36)  # the vendor allows 40 per 20 s per API key
    page_fields = ("meta",)

    def make_session(self, conn: Connection) -> VendorSession:
        return VendorSession(conn.conn_id, conn.base_url, auth=(conn.login, conn.password), rate=self.rate)

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        params = {"limit": ep.page_size, **ep.params}
        if ep.order_field:
            params["order_by"] = f"{ep.order_field}:desc"
        cursor = None
        while True:
            resp = self.fetch(ep, ep.path, {**params, "cursor": cursor} if cursor else params)
            records = resp.body.items
            yield Page(records)
            if ep.incremental and since is not None:
                items = [self.item(ep, r) for r in records]
                if any(parse_ts(i.order) < since for i in items if isinstance(i, PageItem) and i.order):
                    return  # newest first: everything further is older than the watermark
            meta = resp.body.meta
            if not isinstance(meta, dict):
                raise MalformedPage(f"{self.conn_id}: {ep.path} returned a page without 'meta'")
            cursor = meta.get("next_cursor")
            if not cursor:
                return
