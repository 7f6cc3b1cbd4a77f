"""Gorgias helpdesk emulator: /api/tickets, messages, customers, users, tags, satisfaction-surveys.

HTTP Basic (account email : API key); cursor pagination in {object, uri, data, meta}; a cursor must be
sent with the same order_by/filters it was issued for. Timestamps mix the "+00:00" and
".000000+00:00" forms by record id parity (the instant never changes).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.company import AGENT_DOMAIN
from sandbox.emulators.engine import (
    NULL,
    BadParam,
    Field,
    Index,
    Listing,
    Obj,
    col,
    computed,
    const,
    decode_cursor,
    encode_cursor,
    load_table,
    lookup,
    one_of,
    rendered,
    to_json,
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
    int_id,
    json_response,
    parse_limit,
)

SHOPIFY_INTEGRATION_ID = "7133"  # the store's Shopify integration, as Gorgias keys customer.integrations
DATES = {
    "created_datetime:asc": ("created", False),
    "created_datetime:desc": ("created", True),
    "updated_datetime:asc": ("v_from", False),
    "updated_datetime:desc": ("v_from", True),
}
NEWEST = {"created_datetime:desc": ("created", True)}
UNORDERED = {"": ("id", False)}  # satisfaction-surveys take no order_by


def gts(name: str) -> Field:
    """ts-off; the µs fraction on even ids only (the real feed mixes both forms)."""
    return ts(name, "+00:00", micro_even_ids=True)


def trashed_filter(value: str, clock: int) -> list:
    """trashed=false hides trashed tickets, trashed=true shows only them; absent: all (the default)."""
    v = value.strip().lower()
    if v not in ("true", "false", "1", "0"):
        raise BadParam("trashed", "must be a boolean")
    want = v in ("true", "1")
    return [("mask", lambda ix, rows, _: (ix.cols["trashed"][rows] != NULL) == want)]


FIRST = computed(lambda b: [(n or "").partition(" ")[0] for n in b.col("name")])
LAST = computed(lambda b: [(n or "").partition(" ")[2] for n in b.col("name")])
PERSON = Obj({"id": col("id"), "email": col("email"), "name": col("name"), "firstname": FIRST, "lastname": LAST})
USER_REF = Obj({"id": col("id"), "email": col("email"), "name": col("name")})
MESSAGE = Obj(
    {
        "id": col("id"),
        "uri": computed(
            lambda b: [f"/api/tickets/{t}/messages/{i}/" for t, i in zip(b.col("ticket_id"), b.col("id"), strict=True)]
        ),
        "ticket_id": col("ticket_id"),
        "from_agent": col("from_agent"),
        "public": col("public"),
        "channel": col("channel"),
        "via": col("via"),
        "rule_id": col("rule_id"),
        "sender": Obj({"id": col("sender_id"), "email": col("sender_email")}),
        "receiver": Obj({"email": col("receiver_email")}),
        "body_text": col("body"),
        "created_datetime": gts("created"),
        "sent_datetime": gts("sent"),
        "failed_datetime": gts("failed"),
    }
)
CUSTOMER = Obj(
    {
        **PERSON.fields,
        "external_id": col("external_id"),
        "channels": computed(lambda b: [[{"type": "email", "address": e, "preferred": True}] for e in b.col("email")]),
        "integrations": computed(
            lambda b: [
                {}
                if s is None
                else {SHOPIFY_INTEGRATION_ID: {"__integration_type__": "shopify", "customer": {"id": s}}}
                for s in b.col("shopify_customer_id")
            ]
        ),
        "created_datetime": gts("created"),
        "updated_datetime": gts("v_from"),
    }
)
USER = Obj(
    {
        "id": col("id"),
        "email": col("email"),
        "name": col("name"),
        "active": col("active"),
        "role": Obj({"name": col("role")}),
        "created_datetime": gts("created"),
        "updated_datetime": gts("v_from"),
    }
)
SURVEY = Obj(
    {
        "id": col("id"),
        "ticket_id": col("ticket_id"),
        "customer_id": col("customer_id"),
        "score": col("score"),
        "body_text": const(None),
        "created_datetime": gts("created"),
        "sent_datetime": gts("sent"),
        "scored_datetime": gts("scored"),
    }
)


class Gorgias(Vendor):
    name = "gorgias"
    bucket_size, leak_per_s, window_s = 40.0, 2.0, 20.0  # 40 requests per 20 s
    bad_param_status = 400

    def __init__(self, folder: Path, api_key: str):
        super().__init__()
        self.email, self.api_key = f"admin@{AGENT_DOMAIN}", api_key
        customers = load_table(folder, "gorgias_customers")
        email_lc = pc.utf8_lower(pc.utf8_trim_whitespace(customers["email"].cast(pa.string())))  # the email filter
        self.users = Index(load_table(folder, "gorgias_users"), sorts=("created",))
        self.tags = Index(load_table(folder, "gorgias_tags"), sorts=("created",))
        self.customers = Index(
            customers, columns=("external_id",), sorts=("created", "v_from"), derived={"email_lc": email_lc}
        )
        self.tickets = Index(
            load_table(folder, "gorgias_tickets"),
            columns=("customer_id", "trashed", "tags"),
            sorts=("created", "v_from"),
        )
        self.messages = Index(load_table(folder, "gorgias_messages"), columns=("ticket_id",), sorts=("created",))
        self.surveys = Index(load_table(folder, "gorgias_surveys"), columns=("ticket_id",), sorts=("id",))
        self.tag_ids = dict(zip(self.tags.table["name"].to_pylist(), self.tags.table["id"].to_pylist(), strict=True))
        self._usage: tuple[int, dict] | None = None
        ticket = Obj(
            {
                "id": col("id"),
                "uri": computed(lambda b: [f"/api/tickets/{i}/" for i in b.col("id")]),
                "external_id": const(None),
                "status": col("status"),
                "channel": col("channel"),
                "via": col("via"),
                "from_agent": col("from_agent"),
                "subject": col("subject"),
                "customer": lookup(self.customers, "customer_id", PERSON, columns=("id", "email", "name")),
                "assignee_user": lookup(self.users, "assignee_user_id", USER_REF, columns=("id", "email", "name")),
                "tags": rendered(lambda b: [self.tags_json(v) for v in b.col("tags")]),
                "spam": col("spam"),
                "snooze_datetime": const(None),
                "trashed_datetime": gts("trashed"),
                "created_datetime": gts("created"),
                "updated_datetime": gts("v_from"),
                "closed_datetime": gts("closed"),
            }
        )
        tag = Obj(
            {
                "id": col("id"),
                "name": col("name"),
                "decoration": const(None),
                "usage": computed(lambda b: [self.tag_usage(b.clock).get(n, 0) for n in b.col("name")]),
                "created_datetime": gts("created"),
                "deleted_datetime": const(None),
            }
        )
        self.listings = {
            "tickets": Listing(
                self.tickets,
                ticket,
                DATES,
                "created_datetime:desc",
                {
                    "customer_id": one_of("customer_id", int),
                    "ticket_ids[]": one_of("id", int),
                    "ticket_ids": one_of("id", int),
                    "trashed": trashed_filter,
                },
            ),
            "customers": Listing(
                self.customers,
                CUSTOMER,
                DATES,
                "created_datetime:desc",
                {"email": one_of("email_lc", lambda v: v.strip().lower()), "external_id": one_of("external_id")},
            ),
            "messages": Listing(
                self.messages, MESSAGE, NEWEST, "created_datetime:desc", {"ticket_id": one_of("ticket_id", int)}
            ),
            "users": Listing(self.users, USER, NEWEST, "created_datetime:desc"),
            "tags": Listing(self.tags, tag, NEWEST, "created_datetime:desc"),
            "satisfaction-surveys": Listing(
                self.surveys, SURVEY, UNORDERED, "", {"ticket_id": one_of("ticket_id", int)}
            ),
        }
        self.routes = [Route("GET", f"/api/{name}", self.list_handler(name)) for name in self.listings]
        self.routes += [
            Route("GET", "/api/tickets/{id}", self.get_ticket),
            Route("GET", "/api/customers/{id}", self.get_handler("customers")),
            Route("GET", "/api/users/{id}", self.get_handler("users")),
            Route("GET", "/api/messages/{id}", self.get_handler("messages")),
        ]

    # ------------------------------------------------------------------ protocol
    def authenticate(self, req: Request) -> Response | None:
        if req.basic_auth() != (self.email, self.api_key):
            return self.error(401, "Unauthorized: invalid email or API key")
        return None

    def error(self, status: int, message: str) -> Response:
        return json_response({"error": {"msg": message}}, status)

    def throttled(self, retry_after: float) -> Response:
        resp = self.error(429, "Too many requests: rate limit exceeded")
        resp.headers.append(("Retry-after", str(max(1, math.ceil(retry_after)))))  # sic: Gorgias's casing
        return resp

    def limit_headers(self, used: int) -> list[tuple[str, str]]:
        return [("X-Gorgias-Account-Api-Call-Limit", f"{used}/{int(self.bucket_size)}")]

    def credentials(self) -> dict:
        return {"login": self.email, "password": self.api_key}

    def list_handler(self, name: str) -> HandlerFn:
        listing = self.listings[name]

        def handle(req: Request, _: dict) -> Response:
            p = dict(req.params)
            limit = parse_limit(p, "limit", 30, 100)
            cursor = p.pop("cursor", None)
            p.pop("limit", None)
            if listing.default_sort == "" and "order_by" in p:
                raise BadParam("order_by", "this endpoint cannot be ordered")
            order = p.get("order_by") or listing.default_sort
            if order not in listing.sorts:
                raise BadParam("order_by", f"must be one of {sorted(listing.sorts)}")
            fixed = {"order_by": order, **{k: v for k, v in p.items() if k in listing.filters}}
            fence, back = None, False
            if cursor:
                state = decode_cursor(cursor)
                if state.get("e") != name or state.get("q") != fixed:
                    raise ApiError(
                        400,
                        "The cursor does not match this request: resend the same order_by and "
                        "filters as the request that returned it",
                    )
                fence, back = state["f"], bool(state.get("b"))
            q = listing.query(order, fixed, req.clock)
            data, page = listing.fetch(
                q, req.clock, limit, fence, back, req.rewind if cursor else 0, key=encode_cursor(fixed)
            )
            req.rewound = page.rewound

            def link(f: int | None, b: bool) -> str | None:
                return None if f is None else encode_cursor({"e": name, "q": fixed, "f": f, **({"b": 1} if b else {})})

            return json_response(
                {
                    "object": "list",
                    "uri": req.path + (f"?{req.query}" if req.query else ""),
                    "data": Raw.items(data),
                    "meta": {"next_cursor": link(page.next_fence, False), "prev_cursor": link(page.prev_fence, True)},
                }
            )

        return handle

    def get_handler(self, name: str) -> HandlerFn:
        def handle(req: Request, m: dict) -> Response:
            rid = int_id(m["id"])
            if name == "users" and rid == 0:  # /api/users/0 is the caller: the account's admin
                emails = self.users.table["email"].to_pylist()
                rid = self.users.table["id"][emails.index(self.email)].as_py()
            text = self.listings[name].get(rid, req.clock)
            if text is None:
                raise ApiError(404, "Resource not found")
            return json_response(Raw(text))

        return handle

    def get_ticket(self, req: Request, m: dict) -> Response:
        """A ticket with its messages (oldest first), satisfaction survey and requester."""
        tid, clock = int_id(m["id"]), req.clock
        text = self.listings["tickets"].get(tid, clock)
        if text is None:
            raise ApiError(404, "Resource not found")
        messages = self.listings["messages"]
        msgs = messages.fetch(messages.query("created_datetime:desc", {"ticket_id": str(tid)}, clock), clock, 100_000)[
            0
        ][::-1]
        surveys = self.listings["satisfaction-surveys"]
        survey = surveys.fetch(surveys.query("", {"ticket_id": str(tid)}, clock), clock, 1)[0]
        row = self.tickets.visible_row(tid, clock)
        requester = self.listings["customers"].get(int(self.tickets.cols["customer_id"][row]), clock)
        return json_response(
            Raw(
                text[:-1] + f',"messages":[{",".join(msgs)}],"satisfaction_survey":'
                f'{survey[0] if survey else "null"},"requester":{requester or "null"}}}'
            )
        )

    @lru_cache(maxsize=1024)  # noqa: B019 - a few distinct values; the vendor lives as long as the sandbox
    def tags_json(self, value: str | None) -> str:
        """A ticket's tag string as Gorgias's [{id, name, decoration}]; names as typed (case, stray spaces)."""
        names = [t for t in (value or "").split(",") if t.strip()]
        return to_json([{"id": self.tag_ids.get(t.strip()), "name": t, "decoration": None} for t in names])

    def tag_usage(self, clock: int) -> dict[str, int]:
        """Visible tickets per tag name (a pass over the tickets, cached per clock)."""
        if self._usage is None or self._usage[0] != clock:
            ix = self.tickets
            vis = (ix.cols["v_from"] <= clock) & (ix.v_to > clock)
            counts = np.bincount(ix.cols["tags"][vis] + 1, minlength=len(ix.codes["tags"]) + 1)
            usage: dict[str, int] = {}
            for value, code in ix.codes["tags"].items():
                for t in (value or "").split(","):
                    if t.strip():
                        usage[t.strip()] = usage.get(t.strip(), 0) + int(counts[code + 1])
            self._usage = (clock, usage)
        return self._usage[1]
