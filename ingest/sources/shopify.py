"""Shopify's GraphQL Admin API (vendor-apis.md §3a): orders and customers through bulk operations
(ingest/shopify). Records as Shopify sends them, children under their parents; statuses upper case."""

from datetime import timedelta

from ingest.endpoints import Endpoint, Vendor

SHOP_MONEY = tuple(
    f"{f}.shopMoney.amount" for f in ("subtotalPriceSet", "totalPriceSet", "totalDiscountsSet", "totalTaxSet")
)
ADJUSTMENTS = "refunds[].orderAdjustments.nodes[].amountSet.shopMoney.amount"  # negative is money back

ENDPOINTS = (
    # `path` is the bulk query's root. Whether every refund bumps updatedAt is unverified: re-scan a wide lookback.
    Endpoint(
        "shopify",
        "orders",
        "orders",
        "",
        key="legacyResourceId",
        version_fields=("updatedAt",),
        lookback=timedelta(days=3),
        required=("name", "createdAt", "updatedAt", "currencyCode", SHOP_MONEY[0], "displayFinancialStatus"),
        timestamps=("createdAt", "updatedAt", "processedAt", "cancelledAt", "refunds[].createdAt"),
        money=(
            *SHOP_MONEY,
            "lineItems[].originalUnitPriceSet.shopMoney.amount",
            "lineItems[].totalDiscountSet.shopMoney.amount",
            "refunds[].totalRefundedSet.shopMoney.amount",
            "refunds[].transactions.nodes[].amountSet.shopMoney.amount",
            "refunds[].refundLineItems.nodes[].subtotalSet.shopMoney.amount",  # a refund's goods (§2 reversal)
            ADJUSTMENTS,
        ),
        signed=(ADJUSTMENTS,),
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
            ),
            "cancelReason": frozenset({"CUSTOMER", "FRAUD", "INVENTORY", "DECLINED", "OTHER", "STAFF"}),
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
        enums={"state": frozenset({"DISABLED", "INVITED", "ENABLED", "DECLINED"})},
    ),
)

VENDOR = Vendor(
    "shopify",
    "Shopify GraphQL Admin API (bulk operations; refunds completed by ordinary queries): the revenue ledger."
    " Loaded by ingest/ (one row per record: its newest version).",
    client="ingest.shopify:ShopifyClient",
    schedule="@hourly",
    freshness_hours=3,
    endpoints=ENDPOINTS,
)
