"""Shopify's GraphQL Admin API (vendor-apis.md §3a): orders and customers through bulk operations, one per
updated_at window whatever its size (ingest.shopify.graphql), authenticated by the client credentials grant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ingest.client import Client, Page
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import RateLimit, VendorSession
from ingest.shopify.auth import credential_for
from ingest.shopify.graphql import Bulk, GraphQL
from settings import endpoint_landing_dir

# The newest stable quarterly version (each is supported for 12 months; a retired one is silently served by
# the oldest supported): move it with the connection's extra.api_version, after reading the changelog.
DEFAULT_API_VERSION = "2026-10"
SHOP_MONEY = tuple(
    f"{f}.shopMoney.amount" for f in ("subtotalPriceSet", "totalPriceSet", "totalDiscountsSet", "totalTaxSet")
)
ENDPOINTS = (
    # The GraphQL records as Shopify sends them, children under their parents; `path` is the bulk query's root.
    # Whether every refund bumps updatedAt is unverified: re-scan a wide lookback.
    Endpoint(
        "shopify",
        "orders",
        "orders",
        "",
        key="legacyResourceId",
        version_fields=("updatedAt",),
        lookback=timedelta(days=3),
        required=("createdAt", "updatedAt"),
        timestamps=("createdAt", "updatedAt", "processedAt", "cancelledAt", "refunds[].createdAt"),
        money=(
            *SHOP_MONEY,
            "lineItems[].originalUnitPriceSet.shopMoney.amount",
            "lineItems[].totalDiscountSet.shopMoney.amount",
            "refunds[].totalRefundedSet.shopMoney.amount",
            "refunds[].transactions.nodes[].amountSet.shopMoney.amount",
            "refunds[].refundLineItems.nodes[].subtotalSet.shopMoney.amount",  # a refund's goods (§2 reversal)
            "refunds[].orderAdjustments.nodes[].amountSet.shopMoney.amount",  # negative is money back
        ),
        enums={
            "displayFinancialStatus": frozenset(
                {
                    "PENDING",
                    "AUTHORIZED",
                    "PARTIALLY_PAID",
                    "PAID",
                    "PARTIALLY_REFUNDED",
                    "REFUNDED",
                    "VOIDED",
                    "EXPIRED",
                }
            )
        },
    ),
    Endpoint(
        "shopify",
        "customers",
        "customers",
        "",
        key="legacyResourceId",
        version_fields=("updatedAt",),
        required=("createdAt", "updatedAt"),
        timestamps=("createdAt", "updatedAt"),
    ),
)


class ShopifyClient(Client):
    """Orders and customers through GraphQL bulk operations: one operation per window, whatever its size."""

    conn_id = "shopify_default"
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
