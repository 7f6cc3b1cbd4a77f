"""Gorgias (helpdesk). Cursor pages; tickets have no date filter, so feeds are read newest first
down to the watermark (minus the lookback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ingest.client import Client, Page, PageItem
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import MalformedPage, RateLimit, VendorSession
from ingest.parse import parse_ts
from ingest.sources.gorgias import ENDPOINTS, VENDOR


class GorgiasClient(Client):
    conn_id = VENDOR.conn_id
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
