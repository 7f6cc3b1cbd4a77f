"""Recharge, API 2021-11: cursor pages filtered by updated_at (ingest/recharge)."""

from ingest.endpoints import Endpoint, Vendor

TS = ("created_at", "updated_at")


def _ep(entity: str, *, required: tuple[str, ...] = (), **kw) -> Endpoint:
    return Endpoint(
        "recharge",
        entity,
        f"/{entity}",
        entity,
        version_fields=("updated_at",),
        page_size=250,
        required=(*TS, *required),
        **kw,
    )


ENDPOINTS = (
    _ep("customers", required=("email",), timestamps=TS),
    _ep(
        "subscriptions",
        required=("customer_id", "status"),
        timestamps=(*TS, "cancelled_at"),
        money=("price",),
        enums={"status": frozenset({"active", "cancelled", "expired"})},
    ),
    _ep(
        "charges",
        required=("customer.id", "type", "status", "scheduled_at", "currency"),
        timestamps=(*TS, "processed_at", "last_charge_attempt"),
        scheduled=("retry_date", "scheduled_at"),
        money=(
            "total_price",
            "subtotal_price",
            "total_tax",
            "total_discounts",
            "total_refunds",
            "line_items[].unit_price",
        ),
        enums={
            "status": frozenset(
                {
                    "success",
                    "error",
                    "queued",
                    "skipped",
                    "refunded",
                    "partially_refunded",
                    "pending",
                    "pending_manual_payment",
                }
            ),
            "type": frozenset({"recurring", "checkout"}),
        },
    ),
    _ep(
        "orders",
        required=("charge.id", "type", "status"),
        timestamps=(*TS, "processed_at"),
        scheduled=("scheduled_at",),
        money=("total_price",),
        enums={
            "status": frozenset({"success", "error", "queued", "cancelled"}),
            "type": frozenset({"recurring", "checkout"}),
        },
    ),
)

VENDOR = Vendor(
    "recharge",
    "Recharge subscriptions, API 2021-11 (successful charges disappear from the API after 90 days: the raw layer"
    " keeps them). Loaded by ingest/ (one row per record: its newest version).",
    client="ingest.recharge:RechargeClient",
    schedule="@daily",
    freshness_hours=30,
    endpoints=ENDPOINTS,
)
