"""Recharge (API 2021-11) emulator: /customers, /subscriptions, /charges, /orders and /{id}.

Token + version headers (a missing or other X-Recharge-Version gets 426: we pin 2021-11 rather than
emulate a store default); keyed envelopes with next_cursor/previous_cursor; filters only on the first
request (a cursor with any other parameter but limit is a 422); 429 without Retry-After; charges
settled more than `retention_days` ago are no longer returned (the 2025-03 90-day limit).
`withheld_order_months` (UTC 'YYYY-MM' of an order's scheduled date) hides those Recharge orders too: a store
whose old orders are gone as well, for the tests of business-rules §5 "Source history".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.calendar import DAY
from sandbox.emulators.engine import (
    BadParam,
    Index,
    Listing,
    Obj,
    array,
    at_least,
    at_most,
    col,
    computed,
    const,
    day,
    decode_cursor,
    encode_cursor,
    load_table,
    money,
    one_of,
    parse_day,
    parse_int,
    parse_ts,
    ts,
)
from sandbox.emulators.http import (
    ApiError,
    HandlerFn,
    Raw,
    Request,
    Response,
    Route,
    Vendor,
    json_response,
    parse_limit,
)
from sandbox.simulate import FIRST_ORDER_TAGS, RENEWAL_TAGS

VERSION = "2021-11"
SORTS = {
    "id-asc": ("id", False),
    "id-desc": ("id", True),
    "updated_at-asc": ("v_from", False),
    "updated_at-desc": ("v_from", True),
}
SETTLED = ("success", "refunded", "partially_refunded")  # the statuses the 90-day limit hides


def id_text(name: str) -> Obj:
    """{"ecommerce": "<Shopify id>"}: Recharge sends foreign ids as strings."""
    return Obj({"ecommerce": computed(lambda b: [None if v is None else str(v) for v in b.col(name)])})


def common_filters() -> dict:
    return {
        "updated_at_min": at_least("v_from", parse_ts),
        "updated_at_max": at_most("v_from", parse_ts),
        "created_at_min": at_least("created", parse_ts),
        "created_at_max": at_most("created", parse_ts),
        "ids": one_of("id", parse_int),
    }


STAMPS = {"created_at": ts("created"), "updated_at": ts("v_from")}  # 2021-11: "+00:00", no µs
CUSTOMER_REF = Obj(
    {"id": col("customer_id"), "email": col("email"), "external_customer_id": id_text("shopify_customer_id")}
)
CUSTOMER = Obj(
    {
        "id": col("id"),
        "email": col("email"),
        "first_name": col("first_name"),
        "last_name": col("last_name"),
        "external_customer_id": id_text("shopify_customer_id"),
        **STAMPS,
    }
)
SUBSCRIPTION = Obj(
    {
        "id": col("id"),
        "customer_id": col("customer_id"),
        "status": col("status"),
        "price": money("price_cents"),
        "sku": col("sku"),
        "cancelled_at": ts("cancelled_at"),
        "cancellation_reason": col("cancellation_reason"),
        "next_charge_scheduled_at": day("next_charge_date"),
        "max_retries_reached": computed(lambda b: [int(v) for v in b.col("max_retries_reached")]),
        **STAMPS,
    }
)
CHARGE = Obj(
    {
        "id": col("id"),
        "customer": CUSTOMER_REF,
        "type": col("type"),
        "status": col("status"),
        "scheduled_at": day("scheduled_date"),
        "processed_at": ts("processed_at"),
        "retry_date": ts("retry_date"),
        "last_charge_attempt": ts("last_attempt"),
        "charge_attempts": col("charge_attempts"),
        "error_type": col("error_type"),
        "external_order_id": id_text("shopify_order_id"),
        "subtotal_price": money("subtotal_cents"),
        "total_tax": money("tax_cents"),
        "total_discounts": const("0.00"),
        "total_refunds": const("0.00"),
        "total_price": money("total_cents"),
        "currency": col("currency"),
        "discounts": const([]),
        "line_items": array(
            Obj(
                {
                    "purchase_item_id": col("subscription_id"),
                    "purchase_item_type": const("subscription"),
                    "sku": col("sku"),
                    "quantity": col("quantity"),
                    "unit_price": money("unit_price_cents"),
                }
            )
        ),
        "tags": computed(lambda b: [RENEWAL_TAGS if t == "recurring" else FIRST_ORDER_TAGS for t in b.col("type")]),
        **STAMPS,
    }
)
ORDER = Obj(
    {
        "id": col("id"),
        "charge": Obj({"id": col("charge_id")}),
        "customer": CUSTOMER_REF,
        "type": col("type"),
        "status": col("status"),
        "external_order_id": id_text("shopify_order_id"),
        "external_order_name": Obj({"ecommerce": computed(lambda b: [f"#{n}" for n in b.col("shopify_order_number")])}),
        "external_order_number": id_text("shopify_order_number"),
        "scheduled_at": ts("scheduled_at"),
        "processed_at": ts("processed_at"),
        "total_price": money("total_cents"),
        "currency": col("currency"),
        **STAMPS,
    }
)


class Recharge(Vendor):
    name = "recharge"
    bucket_size, leak_per_s, window_s = 40.0, 2.0, 20.0
    bad_param_status = 422

    def __init__(self, folder: Path, token: str, retention_days: int = 90, withheld_order_months: tuple[str, ...] = ()):
        super().__init__()
        self.token, self.retention_days = token, retention_days
        self.withheld_order_months = np.array(sorted(withheld_order_months), dtype="datetime64[M]")
        sorts = ("id", "v_from")
        charges = load_table(folder, "recharge_charges")
        # last_charge_attempt: the payment time, or the failed attempt's time (that version's update).
        status = charges["status"]
        charges = charges.append_column(
            "last_attempt",
            pc.if_else(
                pc.equal(status, "success"),
                charges["processed_at"],
                pc.if_else(pc.equal(status, "error"), charges["v_from"], pa.scalar(None, pa.int64())),
            ),
        )
        self.customers = Index(load_table(folder, "recharge_customers"), columns=("email",), sorts=sorts)
        self.subscriptions = Index(
            load_table(folder, "recharge_subscriptions"), columns=("customer_id", "status"), sorts=sorts
        )
        self.charges = Index(
            charges,
            columns=("customer_id", "status", "scheduled_date", "processed_at", "shopify_order_id", "subscription_id"),
            sorts=sorts,
        )
        self.orders = Index(
            load_table(folder, "recharge_orders"),
            sorts=sorts,
            columns=("customer_id", "charge_id", "status", "scheduled_at", "processed_at"),
        )
        self.listings = {
            "customers": Listing(
                self.customers, CUSTOMER, SORTS, "id-asc", {**common_filters(), "email": one_of("email")}
            ),
            "subscriptions": Listing(
                self.subscriptions,
                SUBSCRIPTION,
                SORTS,
                "id-asc",
                {**common_filters(), "customer_id": one_of("customer_id", parse_int), "status": one_of("status")},
            ),
            "charges": Listing(
                self.charges,
                CHARGE,
                SORTS,
                "id-asc",
                {
                    **common_filters(),
                    "customer_id": one_of("customer_id", parse_int),
                    "status": one_of("status"),
                    "scheduled_at_min": at_least("scheduled_date", parse_day),
                    "scheduled_at_max": at_most("scheduled_date", parse_day),
                    "processed_at_min": at_least("processed_at", parse_ts),
                    "processed_at_max": at_most("processed_at", parse_ts),
                    "external_order_id": one_of("shopify_order_id", parse_int),
                    "purchase_item_id": one_of("subscription_id", parse_int),
                },
                always=self.retention,
            ),
            "orders": Listing(
                self.orders,
                ORDER,
                SORTS,
                "id-asc",
                {
                    **common_filters(),
                    "customer_id": one_of("customer_id", parse_int),
                    "charge_id": one_of("charge_id", parse_int),
                    "status": one_of("status"),
                    "scheduled_at_min": at_least("scheduled_at", parse_ts),
                    "scheduled_at_max": at_most("scheduled_at", parse_ts),
                    "processed_at_min": at_least("processed_at", parse_ts),
                    "processed_at_max": at_most("processed_at", parse_ts),
                },
                always=self.withheld_orders,
            ),
        }
        self.routes = [
            r
            for name in self.listings
            for r in (
                Route("GET", f"/{name}", self.list_handler(name)),
                Route("GET", f"/{name}/{{id}}", self.get_handler(name)),
            )
        ]

    def retention(self, clock: int) -> list:
        """Settled charges processed before clock - retention are hidden (0 days = no limit)."""
        if not self.retention_days:
            return []
        cutoff = clock - self.retention_days * DAY
        settled = [c for v in SETTLED if (c := self.charges.codes["status"].get(v)) is not None]

        def keep(ix: Index, rows: np.ndarray, _: int) -> np.ndarray:
            return ~(np.isin(ix.cols["status"][rows], settled) & (ix.cols["processed_at"][rows] < cutoff))

        return [("mask", keep)]

    def withheld_orders(self, clock: int) -> list:
        """Orders whose scheduled date (UTC) falls in a withheld month are not served (none by default)."""
        if not len(self.withheld_order_months):
            return []

        def keep(ix: Index, rows: np.ndarray, _: int) -> np.ndarray:
            months = ix.cols["scheduled_at"][rows].astype("datetime64[us]").astype("datetime64[M]")
            return ~np.isin(months, self.withheld_order_months)

        return [("mask", keep)]

    # ------------------------------------------------------------------ protocol
    def authenticate(self, req: Request) -> Response | None:
        if req.header("X-Recharge-Access-Token") != self.token:
            return self.error(401, "Invalid API token or unauthorized scope")
        if req.header("X-Recharge-Version") != VERSION:
            return self.error(426, f"Unsupported or missing X-Recharge-Version: this emulator serves {VERSION} only")
        return None

    def error(self, status: int, message: str) -> Response:
        return json_response({"errors": message}, status)

    def throttled(self, retry_after: float) -> Response:
        return self.error(429, "Too many requests")  # no Retry-After, like the real API

    def credentials(self) -> dict:
        return {"password": self.token}

    def list_handler(self, name: str) -> HandlerFn:
        listing = self.listings[name]

        def handle(req: Request, _: dict) -> Response:
            p = dict(req.params)
            limit = parse_limit(p, "limit", 50, 250)
            p.pop("limit", None)
            cursor = p.pop("cursor", None)
            fence, back = None, False
            if cursor is not None:
                if p:  # filters are fixed by the first request and travel inside the cursor
                    raise ApiError(422, f"cursor cannot be combined with other parameters than limit: {sorted(p)}")
                state = decode_cursor(cursor)
                if state.get("e") != name:
                    raise BadParam("cursor", "invalid cursor")
                fixed, fence, back = state["q"], state["f"], bool(state.get("b"))
            else:
                fixed = {k: v for k, v in p.items() if k in listing.filters or k == "sort_by"}
            sort = fixed.get("sort_by") or listing.default_sort
            if sort not in listing.sorts:
                raise BadParam("sort_by", f"must be one of {sorted(listing.sorts)}")
            q = listing.query(sort, fixed, req.clock)
            data, page = listing.fetch(
                q, req.clock, limit, fence, back, req.rewind if cursor else 0, key=encode_cursor(fixed)
            )
            req.rewound = page.rewound

            def link(f: int | None, b: bool) -> str | None:
                return None if f is None else encode_cursor({"e": name, "q": fixed, "f": f, **({"b": 1} if b else {})})

            return json_response(
                {
                    name: Raw.items(data),
                    "next_cursor": link(page.next_fence, False),
                    "previous_cursor": link(page.prev_fence, True),
                }
            )

        return handle

    def get_handler(self, name: str) -> HandlerFn:
        def handle(req: Request, m: dict) -> Response:
            try:
                text = self.listings[name].get(int(m["id"]), req.clock)
            except ValueError:
                text = None
            if text is None:
                raise ApiError(404, "Not Found")
            return json_response({name[:-1]: Raw(text)})

        return handle
