"""Gorgias (helpdesk): cursor pages, read newest first down to the watermark (ingest/gorgias)."""

from datetime import timedelta

from ingest.endpoints import Endpoint, Vendor

TS = ("created_datetime", "updated_datetime")


def _ep(entity: str, path: str, **kw) -> Endpoint:
    return Endpoint("gorgias", entity, path, "data", page_size=100, **kw)


ENDPOINTS = (
    _ep(
        "tickets",
        "/api/tickets",
        version_fields=("updated_datetime",),
        order_field="updated_datetime",
        required=(*TS, "status"),
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
        required=("ticket_id", "from_agent", "public", "created_datetime"),
        timestamps=("created_datetime", "sent_datetime", "failed_datetime"),
    ),
    _ep(
        "customers",
        "/api/customers",
        version_fields=("updated_datetime",),
        order_field="updated_datetime",
        required=TS,
        timestamps=TS,
    ),
    _ep(
        "users",
        "/api/users",
        version_fields=TS,
        order_field="created_datetime",
        incremental=False,
        required=("email", "role.name"),
        timestamps=TS,
        enums={
            "role.name": frozenset(
                {"admin", "agent", "basic-agent", "lite-agent", "observer-agent", "internal-agent", "bot"}
            )
        },
    ),
    _ep(
        "tags",
        "/api/tags",
        version_fields=("created_datetime",),
        order_field="created_datetime",
        incremental=False,
        required=("name",),
        timestamps=("created_datetime", "deleted_datetime"),
    ),
    # Surveys have no sort order and shift while read: a full refresh each run (one per ticket, small).
    _ep(
        "satisfaction_surveys",
        "/api/satisfaction-surveys",
        version_fields=("created_datetime", "sent_datetime", "scored_datetime"),
        incremental=False,
        required=("ticket_id",),
        timestamps=("created_datetime", "sent_datetime", "scored_datetime"),
        ranges={"score": (1, 5)},
    ),
)

VENDOR = Vendor(
    "gorgias",
    "Gorgias helpdesk (REST API, cursor pagination). Loaded by ingest/ (one row per record: its newest version).",
    client="ingest.gorgias:GorgiasClient",
    schedule="@hourly",
    freshness_hours=3,
    endpoints=ENDPOINTS,
)
