"""EasyPost: newest-first pages walked with `before_id` (ingest/easypost)."""

from datetime import timedelta

from ingest.endpoints import Endpoint, Vendor

MODES = frozenset({"test", "production"})
TRACKER_STATUSES = frozenset({"unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered",
                              "available_for_pickup", "return_to_sender", "failure", "cancelled", "error"})  # fmt: skip

ENDPOINTS = (
    Endpoint(
        "easypost",
        "shipments",
        "/shipments",
        "shipments",
        version_fields=("updated_at",),
        page_size=100,
        lookback=timedelta(days=21),
        required=("created_at", "updated_at", "mode"),
        timestamps=("created_at", "updated_at"),
        money=("selected_rate.rate", "fees[].amount"),
        enums={
            "mode": MODES,
            "status": TRACKER_STATUSES,
            "refund_status": frozenset({"submitted", "refunded", "rejected"}),
        },
    ),
    Endpoint(
        "easypost",
        "claims",
        "/claims",
        "claims",
        version_fields=("updated_at", "status_timestamp"),
        page_size=100,
        incremental=False,
        required=("created_at", "mode", "type", "status", "shipment_id", "requested_amount", "status_timestamp"),
        timestamps=("created_at", "updated_at", "status_timestamp", "history[].timestamp"),
        money=("requested_amount", "approved_amount", "insurance_amount", "salvage_value"),
        enums={
            "status": frozenset({"submitted", "in_review", "approved", "approved_partial", "rejected", "cancelled"}),
            "type": frozenset({"damage", "loss", "theft"}),
            "mode": MODES,
        },
    ),
)

VENDOR = Vendor(
    "easypost",
    "EasyPost shipping labels and carrier claims. Loaded by ingest/ (one row per record: its newest version).",
    client="ingest.easypost:EasyPostClient",
    schedule="@daily",
    freshness_hours=30,
    endpoints=ENDPOINTS,
)
