"""Shopify's GraphQL Admin API (vendor-apis.md §3a): orders and customers through bulk operations, one per
updated_at window whatever its size (ingest.shopify.graphql), authenticated by the client credentials grant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ingest.client import Client, Page
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import RateLimit, VendorSession
from ingest.shopify.auth import credential_for
from ingest.shopify.graphql import Bulk, GraphQL
from ingest.sources.shopify import ENDPOINTS, VENDOR
from settings import endpoint_landing_dir

# The newest stable quarterly version (each is supported for 12 months; a retired one is silently served by
# the oldest supported): move it with the connection's extra.api_version, after reading the changelog.
DEFAULT_API_VERSION = "2026-10"


class ShopifyClient(Client):
    """Orders and customers through GraphQL bulk operations: one operation per window, whatever its size."""

    conn_id = VENDOR.conn_id
    endpoints = ENDPOINTS
    rate = RateLimit(per_second=1.9, burst=36)  # HTTP requests; GraphQL's cost bucket paces queries on top

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self.graphql = GraphQL(self.session)
        self.bulk: Bulk | None = None

    def make_session(self, conn: Connection) -> VendorSession:
        version = conn.extra.get("api_version", DEFAULT_API_VERSION)
        session = VendorSession(conn.conn_id, f"{conn.base_url}/admin/api/{version}", rate=self.rate)
        session.credential = credential_for(conn, session)  # a token, kept in memory only
        return session

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        self.bulk = self.bulk or Bulk(self.graphql, endpoint_landing_dir(ep.vendor, ep.entity).parent)
        for batch in self.bulk.records(ep.path, since, until):
            yield Page(batch)
