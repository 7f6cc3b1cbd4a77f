"""EasyPost. Newest-first pages walked with `before_id`; filters may travel with it. No updated_at
filter: shipments re-read a few weeks (refunds of labels), claims are read in full (small)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ingest.client import Client, Page, PageItem, iso_utc
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import MalformedPage, RateLimit, VendorSession
from ingest.sources.easypost import ENDPOINTS, VENDOR


class EasyPostClient(Client):
    conn_id = VENDOR.conn_id
    endpoints = ENDPOINTS
    rate = RateLimit(per_second=4.75, burst=3)  # list endpoints: 5 requests/s; burst kept under the bucket
    page_fields = ("has_more",)

    def make_session(self, conn: Connection) -> VendorSession:
        return VendorSession(conn.conn_id, f"{conn.base_url}/v2", auth=(conn.password, ""), rate=self.rate)

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        params: dict = {"page_size": ep.page_size, **ep.params}
        if ep.incremental and since is not None:
            params["start_datetime"] = iso_utc(since)
        if until is not None:
            params["end_datetime"] = iso_utc(until)
        while True:
            resp = self.fetch(ep, ep.path, params)
            records = resp.body.items
            yield Page(records)
            if not resp.body.has_more or not records:
                return
            last = self.item(ep, records[-1])
            if not isinstance(last, PageItem) or last.key is None:
                raise MalformedPage(f"{self.conn_id}: {ep.path} returned a page whose last record has no '{ep.key}'")
            params = {**params, "before_id": last.key}
