"""Recharge, API 2021-11. Cursor pages; filters go on the first request only (the cursor carries
them: a cursor request with any other parameter is a 422)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ingest.client import Client, Page, iso_utc
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import RateLimit, VendorSession
from ingest.sources.recharge import ENDPOINTS, VENDOR

API_VERSION = "2021-11"  # pinned: without it the store's default version answers in other shapes


class RechargeClient(Client):
    conn_id = VENDOR.conn_id
    endpoints = ENDPOINTS
    rate = RateLimit(per_second=1.9, burst=36)  # leaky bucket of 40, draining 2 calls/s
    page_fields = ("next_cursor",)

    def make_session(self, conn: Connection) -> VendorSession:
        headers = {"X-Recharge-Access-Token": conn.password, "X-Recharge-Version": API_VERSION}
        return VendorSession(conn.conn_id, conn.base_url, headers=headers, rate=self.rate)

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        params: dict = {"limit": ep.page_size, "sort_by": "updated_at-asc", **ep.params}
        if since is not None:
            params["updated_at_min"] = iso_utc(since - timedelta(seconds=1))
        if until is not None:
            params["updated_at_max"] = iso_utc(until)
        while True:
            resp = self.fetch(ep, ep.path, params)
            yield Page(resp.body.items)
            cursor = resp.body.next_cursor
            if not cursor:
                return
            params = {"limit": ep.page_size, "cursor": cursor}
