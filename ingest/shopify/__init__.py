"""Shopify Admin REST. Link-header pages; a `page_info` URL is followed as given (only limit and
fields may travel with it). `status=any`, or closed and cancelled orders never show."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import requests

from ingest.client import Client, Page, iso_utc
from ingest.connections import Connection
from ingest.endpoints import Endpoint
from ingest.http import RateLimit, VendorSession
from ingest.paths import endpoint_landing_dir
from ingest.shopify.auth import credential_for
from ingest.shopify.graphql import Bulk, GraphQL

# The newest stable quarterly version (each is supported for 12 months; a retired one is silently served by
# the oldest supported): move it with the connection's extra.api_version, after reading the changelog.
DEFAULT_API_VERSION = "2026-10"
ORDER_MONEY = (
    "total_price",
    "subtotal_price",
    "total_line_items_price",
    "total_discounts",
    "total_tax",
    "line_items[].price",
    "line_items[].total_discount",
    "line_items[].discount_allocations[].amount",
    "discount_codes[].amount",
    "shipping_lines[].price",
    "refunds[].transactions[].amount",
    "refunds[].refund_line_items[].subtotal_set.shop_money.amount",  # a refund's goods (§2 revenue reversal)
    "refunds[].order_adjustments[].amount",  # a string or a number; negative is money back
)

ENDPOINTS = (
    # Whether every refund bumps updated_at is unverified: re-scan a wide lookback.
    Endpoint(
        "shopify",
        "orders",
        "/orders.json",
        "orders",
        version_fields=("updated_at",),
        page_size=250,
        lookback=timedelta(days=3),
        params={"status": "any"},
        required=("created_at", "updated_at"),
        timestamps=("created_at", "updated_at", "processed_at", "cancelled_at", "refunds[].created_at"),
        money=ORDER_MONEY,
        enums={
            "financial_status": frozenset(
                {"pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"}
            )
        },
    ),
    Endpoint(
        "shopify",
        "customers",
        "/customers.json",
        "customers",
        version_fields=("updated_at",),
        page_size=250,
        required=("created_at", "updated_at"),
        timestamps=("created_at", "updated_at"),
    ),
)


SHOP_MONEY = tuple(
    f"{f}.shopMoney.amount" for f in ("subtotalPriceSet", "totalPriceSet", "totalDiscountsSet", "totalTaxSet")
)
BULK_ENDPOINTS = (
    # The GraphQL records as Shopify sends them, children under their parents; `path` is the bulk query's root.
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
            "refunds[].totalRefundedSet.shopMoney.amount",
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
    conn_id = "shopify_default"
    endpoints = ENDPOINTS
    rate = RateLimit(per_second=1.9, burst=36)  # standard plan: bucket 40, 2 requests/s

    def make_session(self, conn: Connection) -> VendorSession:
        version = conn.extra.get("api_version", DEFAULT_API_VERSION)
        session = VendorSession(conn.conn_id, f"{conn.base_url}/admin/api/{version}", rate=self.rate)
        session.credential = credential_for(conn, session)  # a token, kept in memory only
        return session

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        params: dict | None = {"limit": ep.page_size, **ep.params}
        if since is not None:
            params["updated_at_min"] = iso_utc(since)
        if until is not None:
            params["updated_at_max"] = iso_utc(until)
        url = ep.path
        while True:
            resp = self.fetch(ep, url, params)
            yield Page(resp.body.items)
            links = requests.utils.parse_header_links(resp.headers.get("Link", "").replace(">,<", ">, <"))
            nxt = next((link["url"] for link in links if link.get("rel") == "next"), None)
            if not nxt:
                return
            url, params = nxt, None


class ShopifyBulkClient(ShopifyClient):
    """Orders and customers through GraphQL bulk operations: one operation per window, whatever its size."""

    endpoints = BULK_ENDPOINTS

    def __init__(self, conn: Connection):
        super().__init__(conn)
        self.graphql = GraphQL(self.session)
        self.bulk: Bulk | None = None

    def pages(self, ep: Endpoint, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        self.bulk = self.bulk or Bulk(self.graphql, endpoint_landing_dir(ep.vendor, ep.entity).parent)
        for batch in self.bulk.records(ep.path, since, until):
            yield Page(batch)
