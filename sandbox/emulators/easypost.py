"""EasyPost emulator: /v2/shipments, /v2/shipments/{id}, /v2/claims, /v2/claims/{id}.

HTTP Basic with the API key as username; lists newest first with {collection, has_more}; paging by
before_id (combinable with start/end_datetime), page_size <= 100; 429 without any headers (list
endpoints: 5 requests/s); "Z" times on shipments, naive UTC times on claims.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sandbox.emulators.engine import (
    BadParam,
    Batch,
    Field,
    Index,
    Listing,
    Obj,
    array,
    at_least,
    at_most,
    col,
    computed,
    const,
    load_table,
    money,
    parse_ts,
    rendered,
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

NEWEST_FIRST = {"": ("created", True)}


def z(name: str) -> Field:
    return ts(name, "Z")


def naive(name: str) -> Field:
    return ts(name, "")


SHIPMENT = Obj(
    {
        "id": col("id"),
        "object": const("Shipment"),
        "mode": col("mode"),
        "reference": col("reference"),
        "status": col("status"),
        "tracking_code": col("tracking_code"),
        "created_at": z("created"),
        "updated_at": z("v_from"),
        "selected_rate": Obj(
            {
                "object": const("Rate"),
                "carrier": col("carrier"),
                "service": col("service"),
                "rate": money("rate_cents"),
                "currency": const("USD"),
                "shipment_id": col("id"),
            }
        ),
        "fees": array(
            Obj(
                {
                    "object": const("Fee"),
                    "type": const("LabelFee"),
                    "amount": const("0.01000"),
                    "charged": const(True),
                    "refunded": const(False),
                }
            ),
            Obj(
                {
                    "object": const("Fee"),
                    "type": const("PostageFee"),  # money with 5 decimals
                    "amount": rendered(lambda b: [t[:-1] + '000"' for t in money("rate_cents").texts(b)]),
                    "charged": const(True),
                    "refunded": computed(lambda b: [s == "refunded" for s in b.col("refund_status")]),
                }
            ),
        ),
        "insurance": const(None),
        "refund_status": col("refund_status"),
        "is_return": col("is_return"),
    }
)
HISTORY = Obj({"status": col("status"), "status_detail": col("status_detail"), "timestamp": naive("status_ts")})


class EasyPost(Vendor):
    name = "easypost"
    bucket_size, leak_per_s, window_s = 5.0, 5.0, 1.0  # list endpoints: 5 requests per second
    bad_param_status = 422

    def __init__(self, folder: Path, api_key: str):
        super().__init__()
        self.api_key = api_key
        self.shipments = Index(load_table(folder, "easypost_shipments"), sorts=("created",))
        self.claims = Index(load_table(folder, "easypost_claims"), sorts=("created",))
        dates = {"start_datetime": at_least("created", parse_ts), "end_datetime": at_most("created", parse_ts)}
        claim = Obj(
            {
                "id": col("id"),
                "object": const("Claim"),
                "mode": col("mode"),
                "type": col("type"),
                "status": col("status"),
                "status_detail": col("status_detail"),
                "status_timestamp": naive("status_ts"),
                "requested_amount": money("requested_cents"),
                "approved_amount": money("approved_cents"),
                "insurance_amount": money("insurance_cents"),
                "salvage_value": const(None),
                "shipment_id": col("shipment_id"),
                "tracking_code": col("tracking_code"),
                "created_at": naive("created"),
                "updated_at": naive("v_from"),
                "history": rendered(self.history),
            }
        )
        self.listings = {
            "shipments": Listing(self.shipments, SHIPMENT, NEWEST_FIRST, "", dates),
            "claims": Listing(self.claims, claim, NEWEST_FIRST, "", dates),
        }
        self.routes = [
            r
            for name in self.listings
            for r in (
                Route("GET", f"/v2/{name}", self.list_handler(name)),
                Route("GET", f"/v2/{name}/{{id}}", self.get_handler(name)),
            )
        ]

    # ------------------------------------------------------------------ protocol
    def authenticate(self, req: Request) -> Response | None:
        auth = req.basic_auth()
        if auth is None or auth[0] != self.api_key:
            return self.error(401, "API key required / invalid")
        return None

    def error(self, status: int, message: str) -> Response:
        code = {401: "APIKEY.INACTIVE", 404: "NOT_FOUND", 422: "PARAMETER.INVALID", 429: "RATE_LIMITED"}.get(
            status, "INTERNAL_SERVER_ERROR"
        )
        return json_response({"error": {"code": code, "message": message, "errors": []}}, status)

    def throttled(self, retry_after: float) -> Response:
        return self.error(429, "You have exceeded the rate limit. Please retry later.")  # and no headers

    def credentials(self) -> dict:
        return {"password": self.api_key}

    def list_handler(self, name: str) -> HandlerFn:
        listing = self.listings[name]

        def handle(req: Request, _: dict) -> Response:
            p = req.params
            limit = parse_limit(p, "page_size", 20, 100)
            fence, min_pos = None, None
            if p.get("before_id"):  # the next page: rows older than that id
                fence = self._fence_before(listing, p["before_id"], req.clock)
            if p.get("after_id"):  # rows newer than that id, still newest first
                min_pos = self._span(listing, "after_id", p["after_id"])[1] + 1
            q = listing.query("", p, req.clock, min_pos=min_pos)
            key = (tuple(sorted((k, v) for k, v in p.items() if k in listing.filters)), min_pos)
            data, page = listing.fetch(
                q, req.clock, limit, fence, False, req.rewind if fence is not None else 0, key=key
            )
            req.rewound = page.rewound
            return json_response({name: Raw.items(data), "has_more": page.next_fence is not None})

        return handle

    def _fence_before(self, listing: Listing, value: str, clock: int) -> int:
        """The fence just before the id's visible version (= the previous page's next fence)."""
        row = listing.index.visible_row(value.strip(), clock)
        if row is None:
            return self._span(listing, "before_id", value)[0]
        return int(listing.index.rank("created")[row])

    @staticmethod
    def _span(listing: Listing, param: str, value: str) -> tuple[int, int]:
        span = listing.index.position_span(value.strip(), "created")
        if span is None:
            raise BadParam(param, f"no object with id {value!r}")
        return span

    def get_handler(self, name: str) -> HandlerFn:
        def handle(req: Request, m: dict) -> Response:
            text = self.listings[name].get(m["id"], req.clock)
            if text is None:
                raise ApiError(404, "The requested resource could not be found.")
            return json_response(Raw(text))

        return handle

    def history(self, b: Batch) -> list[str]:
        """Every version of each claim up to the served one: [{status, status_detail, timestamp}]."""
        versions = [self.claims.versions(i) for i in b.col("id")]
        rows = np.concatenate(versions) if versions else np.empty(0, dtype=np.int64)
        texts = HISTORY.render(self.claims.take(rows), b.clock) if len(rows) else []
        vfrom = self.claims.cols["v_from"][rows].tolist()
        out, k = [], 0
        for v, served in zip(versions, b.col("v_from"), strict=True):
            out.append(
                "["
                + ",".join(t for t, f in zip(texts[k : k + len(v)], vfrom[k : k + len(v)], strict=True) if f <= served)
                + "]"
            )
            k += len(v)
        return out
