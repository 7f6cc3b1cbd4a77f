"""Shopify Admin REST emulator: orders.json, orders/{id}.json, orders/{id}/refunds.json, customers.json.

Version in the path (/admin/api/2025-01/...; a malformed version is a 404), X-Shopify-Access-Token,
Link-header paging with page_info (which only tolerates limit and fields), `status` defaulting to
open, X-Shopify-Shop-Api-Call-Limit on every response, 429 with Retry-After: 2.0, times in the shop's
offset. An order is *closed* when not cancelled and created more than 30 days before the clock
(closed_at = created + 30 days); that closing does not bump `updated_at`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa

from sandbox.calendar import DAY
from sandbox.emulators.engine import (
    NULL,
    BadParam,
    Batch,
    Children,
    Index,
    Listing,
    Obj,
    array,
    at_least,
    at_most,
    children,
    col,
    computed,
    const,
    decode_cursor,
    encode_cursor,
    fmt_shop,
    load_table,
    lookup,
    money,
    money_json,
    number,
    one_of,
    parse_int,
    parse_ts,
    rendered,
    shop_ts,
)
from sandbox.emulators.http import (
    ApiError,
    HandlerFn,
    Raw,
    Request,
    Response,
    Route,
    Vendor,
    int_id,
    json_response,
    parse_limit,
)
from sandbox.emulators.shopify_graphql import Admin, bearer, check_scope

API_VERSION = "2026-10"  # the newest stable quarterly version (vendor-apis.md §3a)
VERSION_RX = re.compile(r"20\d\d-(01|04|07|10)|unstable")
CLOSE_AFTER = 30 * DAY
SORTS = {
    "id asc": ("id", False),
    "id desc": ("id", True),
    "created_at asc": ("created", False),
    "created_at desc": ("created", True),
    "updated_at asc": ("v_from", False),
    "updated_at desc": ("v_from", True),
}
PAGE_INFO_OK = {"page_info", "limit", "fields"}


def not_cancelled(ix: Index, rows: np.ndarray, clock: int) -> np.ndarray:
    return ix.cols["cancelled_at"][rows] == NULL


def status_filter(value: str, clock: int) -> list:
    cutoff = clock - CLOSE_AFTER
    v = value.strip()
    if v == "any":
        return []
    if v == "open":
        return [("mask", not_cancelled), ("range", "created", cutoff, None)]
    if v == "closed":
        return [("mask", not_cancelled), ("range", "created", None, cutoff - 1)]
    if v == "cancelled":
        return [("range", "cancelled_at", NULL + 1, None)]
    raise BadParam("status", "must be one of open, closed, cancelled, any")


def financial_filter(value: str, clock: int) -> list:
    return [] if value.strip() == "any" else one_of("financial_status")(value, clock)


def date_filters() -> dict:
    return {
        "updated_at_min": at_least("v_from", parse_ts),
        "updated_at_max": at_most("v_from", parse_ts),
        "created_at_min": at_least("created", parse_ts),
        "created_at_max": at_most("created", parse_ts),
        "ids": one_of("id", parse_int),
        "since_id": at_least("id", parse_int, exclusive=True),
    }


def money_set(cents: str, currency: str = "currency") -> Obj:
    amount = Obj({"amount": money(cents), "currency_code": col(currency)})
    return Obj({"shop_money": amount, "presentment_money": amount})


def closed_at(b: Batch) -> list[str]:
    cut = b.clock - CLOSE_AFTER
    return [
        f'"{fmt_shop(c + CLOSE_AFTER)}"' if x is None and c < cut else "null"
        for c, x in zip(b.col("created"), b.col("cancelled_at"), strict=True)
    ]


def allocations(b: Batch) -> list[str]:
    return [
        f'[{{"amount":{money_json(d)},"discount_application_index":0}}]' if d else "[]" for d in b.col("discount_cents")
    ]


def order_adjustments(b: Batch) -> list[str]:
    """A refund's amounts tied to no line item, as Shopify sends them: negative when money goes back to
    the customer; the amount a string, or a number on some refunds (both occur)."""
    out = []
    for rid, oid, shipping, discrepancy, currency in zip(
        b.col("id"),
        b.col("order_id"),
        b.col("shipping_cents"),
        b.col("discrepancy_cents"),
        b.col("currency"),
        strict=True,
    ):
        items = []
        for n, (kind, cents) in enumerate((("shipping_refund", shipping), ("refund_discrepancy", discrepancy))):
            if cents:
                amount = money_json(-cents) if rid % 2 == 0 else repr(-cents / 100)
                money_set = f'{{"amount":{money_json(-cents)},"currency_code":"{currency}"}}'
                items.append(
                    f'{{"id":{rid * 10 + n},"order_id":{oid},"refund_id":{rid},"amount":{amount},'
                    f'"tax_amount":"0.00","kind":"{kind}","reason":"{kind.replace("_", " ").capitalize()}",'
                    f'"amount_set":{{"shop_money":{money_set},"presentment_money":{money_set}}}}}'
                )
        out.append("[" + ",".join(items) + "]")
    return out


LINE_ITEM = Obj(
    {
        "id": col("id"),
        "sku": col("sku"),
        "title": col("title"),
        "quantity": col("quantity"),
        "price": money("price_cents"),
        "total_discount": money("discount_cents"),
        "discount_allocations": rendered(allocations),
    }
)
TRANSACTION = Obj(
    {
        "id": col("id"),
        "order_id": col("order_id"),
        "kind": col("kind"),
        "status": col("status"),
        "amount": money("amount_cents"),
        "currency": col("currency"),
        "created_at": shop_ts("created"),
    }
)
CUSTOMER = Obj(
    {
        "id": col("id"),
        "email": col("email"),
        "first_name": col("first_name"),
        "last_name": col("last_name"),
        "state": col("state"),
        "tags": const(""),
        "created_at": shop_ts("created"),
        "updated_at": shop_ts("v_from"),
    }
)


FIXED_CLIENT_ID = "sandbox-app"


class Shopify(Vendor):
    name = "shopify"
    bucket_size, leak_per_s, window_s = 40.0, 2.0, 20.0
    bad_param_status = 400

    def __init__(self, folder: Path, token: str, client_secret: str | None = None):
        super().__init__()
        self.token = token  # a legacy custom app's static token (still honoured)
        self.admin = Admin(self)  # the Dev Dashboard app: client credentials, GraphQL, bulk operations
        if client_secret:  # docker compose's demo: a fixed app, so its connection can be written down
            self.admin.client_id, self.admin.client_secret = FIXED_CLIENT_ID, client_secret
        self.rate_limits = lambda: True  # the sandbox's switch, set by the server
        fmt_shop(0)  # build the shop's offset table now, not in the first request
        sorts = ("id", "created", "v_from")
        self.orders = Index(
            load_table(folder, "shopify_orders"), columns=("cancelled_at", "financial_status"), sorts=sorts
        )
        self.customers = Index(load_table(folder, "shopify_customers"), sorts=sorts)
        # Refunds and their lines carry their order's currency (the shop's money).
        perm, keys = self.orders.order("id")

        def with_currency(table: pa.Table) -> pa.Table:
            rows = perm[np.searchsorted(keys, table["order_id"].to_numpy())]
            return table.append_column("currency", self.orders.table["currency"].take(rows))

        refunds = with_currency(load_table(folder, "shopify_refunds"))
        refund_lines = with_currency(load_table(folder, "shopify_refund_line_items"))
        discounts = Children(load_table(folder, "shopify_discounts"), "order_id")
        refund = Obj(
            {
                "id": col("id"),
                "order_id": col("order_id"),
                "created_at": shop_ts("created"),
                "processed_at": shop_ts("created"),
                "note": col("note"),
                "restock": const(False),
                "refund_line_items": children(
                    Children(refund_lines, "refund_id"),
                    "id",
                    Obj(
                        {
                            "line_item_id": col("line_item_id"),
                            "quantity": col("quantity"),
                            "subtotal": number("subtotal_cents"),  # numbers, unlike elsewhere
                            "total_tax": number("tax_cents"),
                            "subtotal_set": money_set("subtotal_cents"),
                            "total_tax_set": money_set("tax_cents"),
                        }
                    ),
                ),
                "transactions": children(
                    Children(load_table(folder, "shopify_refund_transactions"), "refund_id"), "id", TRANSACTION
                ),
                "order_adjustments": rendered(order_adjustments),
            }
        )
        # A version shows the refunds created up to its own update time.
        self.refunds = children(Children(refunds, "order_id"), "id", refund, where=("created", "v_from"))
        order = Obj(
            {
                "id": col("id"),
                "name": rendered(lambda b: [f'"#{n}"' for n in b.col("number")]),
                "order_number": col("number"),
                "email": col("email"),
                "customer": Obj(
                    {
                        "id": col("customer_id"),
                        "email": lookup(
                            self.customers, "customer_id", col("email"), default=col("email"), columns=("email",)
                        ),
                    }
                ),
                "created_at": shop_ts("created"),
                "updated_at": shop_ts("v_from"),
                "processed_at": shop_ts("created"),
                "cancelled_at": shop_ts("cancelled_at"),
                "cancel_reason": col("cancel_reason"),
                "closed_at": rendered(closed_at),
                "financial_status": col("financial_status"),
                "fulfillment_status": const(None),
                "currency": col("currency"),
                "total_price": money("total_cents"),
                "subtotal_price": money("subtotal_cents"),
                "total_line_items_price": money("line_total_cents"),
                "total_discounts": money("discount_cents"),
                "total_tax": money("tax_cents"),
                "test": col("test"),
                "tags": col("tags"),
                "source_name": col("source_name"),
                "line_items": children(Children(load_table(folder, "shopify_line_items"), "order_id"), "id", LINE_ITEM),
                "discount_codes": children(
                    discounts,
                    "id",
                    Obj({"code": col("code"), "amount": money("amount_cents"), "type": const("percentage")}),
                ),
                "discount_applications": children(
                    discounts,
                    "id",
                    Obj(
                        {
                            "type": const("discount_code"),
                            "code": col("code"),
                            "value": computed(lambda b: [f"{p}.0" for p in b.col("percent")]),
                            "value_type": const("percentage"),
                            "allocation_method": const("across"),
                            "target_selection": const("all"),
                            "target_type": const("line_item"),
                        }
                    ),
                ),
                "shipping_lines": array(
                    Obj(
                        {
                            "title": const("Standard"),
                            "price": money("shipping_cents"),
                            "discounted_price": money("shipping_cents"),
                        }
                    )
                ),
                "refunds": self.refunds,
            }
        )
        self.refunds_only = Obj({"refunds": self.refunds})
        self.listings = {
            "orders": Listing(
                self.orders,
                order,
                SORTS,
                "id asc",
                {
                    **date_filters(),
                    "status": status_filter,
                    "financial_status": financial_filter,
                    "processed_at_min": at_least("created", parse_ts),
                    "processed_at_max": at_most("created", parse_ts),
                },
            ),
            "customers": Listing(self.customers, CUSTOMER, SORTS, "id asc", date_filters()),
        }
        base = "/admin/api/{version}"
        self.routes = [
            Route("POST", "/admin/oauth/access_token", self.admin.grant),
            Route("POST", f"{base}/graphql.json", self.graphql),
            Route("GET", "/__bulk__/{name}.jsonl", self.admin.download),
            Route("GET", f"{base}/orders.json", self.list_handler("orders")),
            Route("GET", f"{base}/orders/{{id}}.json", self.get_handler("orders")),
            Route("GET", f"{base}/orders/{{id}}/refunds.json", self.get_refunds),
            Route("GET", f"{base}/customers.json", self.list_handler("customers")),
            Route("GET", f"{base}/customers/{{id}}.json", self.get_handler("customers")),
        ]

    # ------------------------------------------------------------------ protocol
    def authenticate(self, req: Request) -> Response | None:
        if req.path == "/admin/oauth/access_token" or req.path.startswith("/__bulk__/"):
            return None  # the grant authenticates by its form; a bulk file's URL is signed, and takes no token
        req.scopes = self.admin.token_scopes(bearer(req), req.clock)
        if req.scopes is None:
            return self.error(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
        return None

    def graphql(self, req: Request, m: dict) -> Response:
        self.check_version(m)
        return self.admin.graphql(req, m, req.scopes, self.rate_limits())

    def error(self, status: int, message: str) -> Response:
        return json_response({"errors": message}, status)

    def close(self) -> None:
        self.admin.close()

    def throttled(self, retry_after: float) -> Response:
        resp = self.error(
            429, "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
        )
        resp.headers.append(("Retry-After", "2.0"))
        return resp

    def limit_headers(self, used: int) -> list[tuple[str, str]]:
        return [("X-Shopify-Shop-Api-Call-Limit", f"{used}/{int(self.bucket_size)}")]

    def credentials(self) -> dict:
        """A Dev Dashboard app: client ID and secret, exchanged by the client credentials grant."""
        admin = self.admin
        return {"login": admin.client_id, "password": admin.client_secret, "extra": {"api_version": API_VERSION}}

    @staticmethod
    def check_version(m: dict) -> None:
        if not VERSION_RX.fullmatch(m["version"]):
            raise ApiError(404, "Not Found")

    def list_handler(self, name: str) -> HandlerFn:
        listing = self.listings[name]

        def handle(req: Request, m: dict) -> Response:
            self.check_version(m)
            check_scope(req.scopes, "read_orders" if name == "orders" else "read_customers")
            p = dict(req.params)
            limit = parse_limit(p, "limit", 50, 250)
            fields = [f.strip() for f in p.get("fields", "").split(",") if f.strip()]
            fence, back = None, False
            if "page_info" in p:
                extra = sorted(set(p) - PAGE_INFO_OK)
                if extra:
                    raise ApiError(400, f"{extra[0]} cannot be passed when page_info is present")
                try:
                    state = decode_cursor(p["page_info"])
                except BadParam as e:
                    raise ApiError(400, "Invalid value for page_info") from e
                if state.get("e") != name:
                    raise ApiError(400, "Invalid value for page_info")
                fixed, fence, back = state["q"], state["f"], bool(state.get("b"))
            else:
                fixed = {k: v for k, v in p.items() if k in listing.filters or k == "order"}
                if name == "orders":
                    fixed.setdefault("status", "open")  # the classic trap: closed orders need status=any
            order = fixed.get("order") or listing.default_sort
            if order not in listing.sorts:
                raise BadParam("order", f"must be one of {sorted(listing.sorts)}")
            q = listing.query(order, fixed, req.clock)
            record = listing.record.only(fields) if fields else None
            data, page = listing.fetch(
                q,
                req.clock,
                limit,
                fence,
                back,
                req.rewind if fence is not None else 0,
                record,
                key=encode_cursor(fixed),
            )
            req.rewound = page.rewound
            links = []
            for f, rel, b in ((page.prev_fence, "previous", True), (page.next_fence, "next", False)):
                if f is not None:
                    token = encode_cursor({"e": name, "q": fixed, "f": f, **({"b": 1} if b else {})})
                    qs = urlencode(
                        {"limit": limit, **({"fields": ",".join(fields)} if fields else {}), "page_info": token}
                    )
                    links.append(f'<{req.base_url}{req.path}?{qs}>; rel="{rel}"')
            return json_response({name: Raw.items(data)}, headers=[("Link", ", ".join(links))] if links else [])

        return handle

    def get_handler(self, name: str) -> HandlerFn:
        def handle(req: Request, m: dict) -> Response:
            self.check_version(m)
            text = self.listings[name].get(int_id(m["id"]), req.clock)
            if text is None:
                raise ApiError(404, "Not Found")
            return json_response({name[:-1]: Raw(text)})

        return handle

    def get_refunds(self, req: Request, m: dict) -> Response:
        self.check_version(m)
        row = self.orders.visible_row(int_id(m["id"]), req.clock)
        if row is None:
            raise ApiError(404, "Not Found")
        return json_response(Raw(self.refunds_only.render(self.orders.take([row]), req.clock)[0]))
