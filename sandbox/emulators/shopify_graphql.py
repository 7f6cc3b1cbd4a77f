"""Shopify as a store has it in 2026 (vendor-apis.md §3a): the client credentials grant, the GraphQL Admin
API with cost-based throttling, and bulk operations delivering JSONL.

- `POST /admin/oauth/access_token` (form or JSON: grant_type=client_credentials, client_id, client_secret)
  -> a token valid 24 h of the sandbox clock, with the app's scopes. `expire_tokens()` ends every token
  now (a token expiring mid-run), `revoke_secret()` rotates the secret, `scopes` is what the merchant granted.
- `POST /admin/api/{version}/graphql.json`: errors come as HTTP 200 with `errors[].extensions.code`
  (`THROTTLED`, `ACCESS_DENIED`); every answer carries `extensions.cost.throttleStatus`. The emulator does
  not parse GraphQL: it recognises the operation (`bulkOperationRunQuery`, `bulkOperation(id:)`) and, in a
  bulk query, the root connection (`orders` or `customers`) and the `updated_at` bounds of its search query;
  it returns every field of §3a a bulk query can reach, whatever the selection.
- Bulk operations move CREATED -> RUNNING -> COMPLETED over successive polls. As on Shopify, the JSONL is
  written in the background (a page of records at a time, to a file in a temp dir the emulator owns) and a
  poll only reads the operation's status: it stays RUNNING until the file is whole, however large the store.
  The JSONL (at a signed URL that needs no token, streamed from disk) puts each line item on its own line
  with `__parentId`, for half of the orders BEFORE the order's line. A bulk query with more than 5
  connections, or a connection inside a list field (an order's `refunds { transactions { nodes } }`), is
  refused as Shopify refuses it: the bulk file carries the refunds' own fields, and
  `nodes(ids:) { ... on Order { refunds { ... } } }` (an ordinary query, cost-limited) gives their
  transactions, lines and adjustments. Faults on demand (`bulk_faults`): `failed` (FAILED with a
  partialDataUrl of half the lines), `expired` (the URL answers 403), `canceled`, `throttled` (the next polls
  answer THROTTLED), `token_expires` (every token ends once the operation has started).
  Before version 2026-01 only one bulk query may run at a time.
- Without `read_all_orders`, orders created more than 60 days before the clock are silently absent.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from sandbox.calendar import DAY, US
from sandbox.emulators.engine import decode_cursor, encode_cursor, fmt_ts, parse_ts
from sandbox.emulators.http import ApiError, Request, Response, json_response

TOKEN_SECONDS = 86399
ALL_SCOPES = ("read_orders", "read_all_orders", "read_customers")
BUCKET_POINTS, RESTORE_PER_S = 2000.0, 100.0  # standard plan
QUERY_COST = 10  # what the emulator charges for a bulk run or a poll (Shopify: about that)
ROOT_RX = re.compile(r"^\s*\{\s*(orders|customers)\b")
INLINE_RX = re.compile(r'bulkOperationRunQuery\s*\(\s*query\s*:\s*"((?:[^"\\]|\\.)*)"')
BOUND_RX = re.compile(r"updated_at\s*:\s*(>=|>|<=|<)\s*'([^']+)'")
NODES_RX = re.compile(r"\bnodes\s*\(\s*ids\s*:")
FIRST_RX = re.compile(r"\b(\w+)\s*\(\s*first\s*:\s*(\d+)")
ORDER_GID_RX = re.compile(r"gid://shopify/Order/(\d+)")
CONNECTION_RX = re.compile(r"\b(?:edges|nodes)\s*\{")
LIST_FIELDS = ("refunds", "discountApplications", "fulfillments", "shippingLines")  # lists on Order, not connections
NODE_COST, MAX_QUERY_COST = 10, 1000
PAGED_RX = re.compile(r"\borders\s*\(\s*first\s*:")
OLD_ORDERS = 60 * DAY
BULK_FAULTS = ("failed", "expired", "canceled", "throttled", "token_expires")


def gid(kind: str, n: int | str) -> str:
    return f"gid://shopify/{kind}/{n}"


def money_set(amount: str | None, currency: str) -> dict | None:
    if amount is None:
        return None
    m = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": m, "presentmentMoney": m}


def utc(ts: str | None) -> str | None:
    return None if ts is None else fmt_ts(parse_ts(ts), "Z")


def _connection(nodes: list[dict], first: int) -> dict:
    return {"pageInfo": {"hasNextPage": len(nodes) > first}, "nodes": nodes[:first]}


def refund_details(o: dict, firsts: dict[str, int]) -> list[dict]:
    """A REST order's refunds as an ordinary query gives them (`nodes(ids:) { ... on Order { refunds {...} } }`):
    their transactions, lines and adjustments are connections, cut at the query's `first`."""
    cur = o["currency"]
    refunds = []
    for r in o.get("refunds") or []:
        txns = [
            {
                "id": gid("OrderTransaction", t["id"]),
                "kind": t["kind"].upper(),
                "status": t["status"].upper(),
                "amountSet": money_set(t["amount"], cur),
            }
            for t in r.get("transactions") or []
        ]
        lines = [
            {
                "lineItem": {"id": gid("LineItem", li["line_item_id"])},
                "quantity": li["quantity"],
                "subtotalSet": money_set(li["subtotal_set"]["shop_money"]["amount"], cur),
            }
            for li in r.get("refund_line_items") or []
        ]
        adjustments = [
            {
                "id": gid("OrderAdjustment", a["id"]),
                "reason": a["kind"].upper(),
                "amountSet": money_set(str(a["amount_set"]["shop_money"]["amount"]), cur),
            }
            for a in r.get("order_adjustments") or []
        ]
        refunds.append(
            {
                **refund_header(r, cur),
                "transactions": _connection(txns, firsts.get("transactions", 250)),
                "refundLineItems": _connection(lines, firsts.get("refundLineItems", 250)),
                "orderAdjustments": _connection(adjustments, firsts.get("orderAdjustments", 250)),
            }
        )
    return refunds


def refund_header(r: dict, cur: str) -> dict:
    success = sum(
        (int(t["amount"].replace(".", "")) for t in r.get("transactions") or [] if t["status"] == "success"), 0
    )
    return {
        "id": gid("Refund", r["id"]),
        "legacyResourceId": str(r["id"]),
        "createdAt": utc(r["created_at"]),
        "totalRefundedSet": money_set(f"{success // 100}.{success % 100:02d}", cur),
    }


def order_lines(o: dict) -> tuple[dict, list[dict]]:
    """A REST order (the emulator's one source of truth) as its GraphQL bulk lines: the order, its line items.
    `refunds` is a list field, so it comes inline, but a bulk query may not select the connections inside it
    (transactions, refund lines, adjustments): only the refunds' own fields are here."""
    cur = o["currency"]
    oid = gid("Order", o["id"])
    customer = o.get("customer")
    order = {
        "id": oid,
        "legacyResourceId": str(o["id"]),
        "name": o["name"],
        "number": o["order_number"],
        "email": o["email"],
        "createdAt": utc(o["created_at"]),
        "updatedAt": utc(o["updated_at"]),
        "processedAt": utc(o["processed_at"]),
        "cancelledAt": utc(o["cancelled_at"]),
        "cancelReason": o["cancel_reason"].upper() if o.get("cancel_reason") else None,
        "test": o["test"],
        "currencyCode": cur,
        "tags": [t.strip() for t in (o.get("tags") or "").split(",") if t.strip()],
        "displayFinancialStatus": (o.get("financial_status") or "").upper() or None,
        "subtotalPriceSet": money_set(o["subtotal_price"], cur),
        "totalPriceSet": money_set(o["total_price"], cur),
        "totalDiscountsSet": money_set(o.get("total_discounts"), cur),
        "totalTaxSet": money_set(o["total_tax"], cur),
        "discountCodes": [d["code"] for d in o.get("discount_codes") or []],
        "customer": {"id": gid("Customer", customer["id"]), "legacyResourceId": str(customer["id"])}
        if customer and customer.get("id") is not None
        else None,
        "refunds": [refund_header(r, cur) for r in o.get("refunds") or []],
    }
    items = [
        {
            "id": gid("LineItem", li["id"]),
            "sku": li["sku"],
            "quantity": li["quantity"],
            "originalUnitPriceSet": money_set(li["price"], cur),
            "totalDiscountSet": money_set(li["total_discount"], cur),
            "__parentId": oid,
        }
        for li in o.get("line_items") or []
    ]
    return order, items


def customer_line(c: dict) -> dict:
    return {
        "id": gid("Customer", c["id"]),
        "legacyResourceId": str(c["id"]),
        "email": c["email"],
        "firstName": c["first_name"],
        "lastName": c["last_name"],
        "state": (c["state"] or "").upper() or None,
        "tags": [t.strip() for t in (c.get("tags") or "").split(",") if t.strip()],
        "createdAt": utc(c["created_at"]),
        "updatedAt": utc(c["updated_at"]),
    }


@dataclass
class BulkOp:
    id: str
    root: str
    bounds: dict[str, str]
    clock: int
    polls: int = 0
    status: str = "CREATED"
    fault: str | None = None
    url: str | None = None
    partial_url: str | None = None
    object_count: int = 0
    root_count: int = 0
    scopes: tuple[str, ...] = ALL_SCOPES
    file: Path | None = None  # the JSONL being written (None once removed: an expired URL)
    written: threading.Event = field(default_factory=threading.Event, repr=False)  # the file is whole
    broken: bool = False  # the writer failed (an emulator bug): the operation ends FAILED


@dataclass(frozen=True)
class BulkFile:
    """A finished bulk file on disk, served in chunks."""

    path: Path

    def decode(self, encoding: str = "utf-8") -> str:
        """The file's text (tests read what the client was given)."""
        return self.path.read_text(encoding)


@dataclass
class Grant:
    expires_us: int
    scopes: tuple[str, ...]


@dataclass
class Admin:
    """The store's app (client ID, secret, granted scopes), its tokens and its bulk operations."""

    shop: object  # sandbox.emulators.shopify.Shopify: renders the REST records this API reshapes
    client_id: str = field(default_factory=lambda: secrets.token_hex(16))
    client_secret: str = field(default_factory=lambda: "shpss_" + secrets.token_hex(16), repr=False)
    scopes: tuple[str, ...] = ALL_SCOPES
    tokens: dict[str, Grant] = field(default_factory=dict, repr=False)
    ops: dict[str, BulkOp] = field(default_factory=dict)
    files: dict[str, BulkFile] = field(default_factory=dict, repr=False)
    bulk_faults: deque = field(default_factory=deque)
    # Tests: when set, the writer takes a permit before each page, so a test holds a file half written.
    bulk_gate: threading.Semaphore | None = None
    bulk_page: int = 1000  # records per page the writer renders (its memory, whatever the store's size)
    workdir: Path | None = None
    writers: list[threading.Thread] = field(default_factory=list, repr=False)
    closing: threading.Event = field(default_factory=threading.Event, repr=False)
    throttled_polls: int = 0
    points: float = BUCKET_POINTS
    stamp: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    grants: int = 0

    # ------------------------------------------------------------------ tokens
    def expire_tokens(self) -> None:
        with self.lock:
            for g in self.tokens.values():
                g.expires_us = 0

    def revoke_secret(self) -> None:
        self.client_secret = "shpss_" + secrets.token_hex(16)
        self.expire_tokens()

    def token_scopes(self, token: str | None, clock: int) -> tuple[str, ...] | None:
        """The scopes of a valid token; the static legacy token has them all; None: refused."""
        if token is None:
            return None
        if token == self.shop.token:
            return ALL_SCOPES
        g = self.tokens.get(token)
        return g.scopes if g is not None and g.expires_us > clock else None

    def grant(self, req: Request, m: dict) -> Response:
        ctype = req.header("Content-Type") or ""
        form = json.loads(req.body or b"{}") if "json" in ctype else dict(parse_qsl(req.body.decode()))
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        token = "shpat_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = Grant(req.clock + TOKEN_SECONDS * US, tuple(self.scopes))
            self.grants += 1
        return json_response({"access_token": token, "scope": ",".join(self.scopes), "expires_in": TOKEN_SECONDS})

    # ------------------------------------------------------------------ GraphQL
    def cost(self, charged: int, enforce: bool, actual: int | None = None) -> tuple[bool, dict]:
        """Shopify asks the bucket for the requested cost and then takes only what the query really cost."""
        actual = charged if actual is None else actual
        with self.lock:
            now = time.monotonic()
            self.points = min(BUCKET_POINTS, self.points + (now - self.stamp) * RESTORE_PER_S)
            self.stamp = now
            ok = not enforce or self.points >= charged
            if ok and enforce:
                self.points -= actual
            status = {
                "maximumAvailable": BUCKET_POINTS,
                "currentlyAvailable": int(self.points),
                "restoreRate": RESTORE_PER_S,
            }
        return ok, {
            "requestedQueryCost": charged,
            "actualQueryCost": actual if ok else None,
            "throttleStatus": status,
        }

    def graphql(self, req: Request, m: dict, scopes: tuple[str, ...], rate_limits: bool) -> Response:
        try:
            doc = json.loads(req.body or b"{}")
            query = doc["query"]
            variables = doc.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return json_response({"errors": [{"message": "Parse error: a JSON body with a query is required"}]}, 400)
        polling = "bulkOperation(" in query and "RunQuery" not in query
        with self.lock:
            forced = polling and self.throttled_polls > 0
            if forced:
                self.throttled_polls -= 1
        if NODES_RX.search(query):
            return self._nodes(req, query, variables, scopes, rate_limits)
        if PAGED_RX.search(query) and "bulkOperationRunQuery" not in query:
            return self._orders_page(req, query, variables, scopes, rate_limits)
        ok, cost = self.cost(QUERY_COST, rate_limits)
        if forced or not ok:
            return self._errors("Throttled", "THROTTLED", cost)
        if "bulkOperationRunQuery" in query:
            return self._run(req, m, query, variables, scopes, cost)
        if polling:
            return self._poll(req, variables, cost)
        if re.search(r"\bshop\s*\{", query):
            return json_response({"data": {"shop": {"name": "Sandbox shop"}}, "extensions": {"cost": cost}})
        return self._errors("the sandbox answers bulkOperationRunQuery, bulkOperation(id:) and shop", None, cost)

    @staticmethod
    def _errors(message: str, code: str | None, cost: dict) -> Response:
        err = {"message": message, **({"extensions": {"code": code}} if code else {})}
        return json_response({"errors": [err], "extensions": {"cost": cost}})

    def _run(self, req: Request, m: dict, query: str, variables: dict, scopes: tuple, cost: dict) -> Response:
        inner = variables.get("query")
        if inner is None:  # the bulk query inlined as a GraphQL string literal
            lit = INLINE_RX.search(query)
            inner = json.loads(f'"{lit[1]}"') if lit else ""
        root = ROOT_RX.search(inner)
        if root is None:
            return self._errors("the bulk query needs an orders or customers connection", None, cost)
        refused = bulk_query_refusal(inner)
        if refused:
            user_errors = [{"field": ["query"], "code": "INVALID", "message": refused}]
            body = {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": user_errors}}
            return json_response({"data": body, "extensions": {"cost": cost}})
        need = "read_orders" if root[1] == "orders" else "read_customers"
        if need not in scopes:
            return self._errors(
                f"Access denied for {root[1]} field. Required access: `{need}` access scope.", "ACCESS_DENIED", cost
            )
        with self.lock:
            running = [o for o in self.ops.values() if o.status in ("CREATED", "RUNNING")]
            limit = 1 if m["version"] < "2026-01" else 5
            if len(running) >= limit:
                user_errors = [
                    {
                        "field": None,
                        "code": "OPERATION_IN_PROGRESS",
                        "message": "A bulk query operation for this app and shop is already in progress: "
                        + running[0].id,
                    }
                ]
                return json_response(
                    {
                        "data": {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": user_errors}},
                        "extensions": {"cost": cost},
                    }
                )
            op = BulkOp(gid("BulkOperation", len(self.ops) + 1), root[1], {}, req.clock)
            for opname, value in BOUND_RX.findall(inner):
                op.bounds[opname] = value
            op.fault = self.bulk_faults.popleft() if self.bulk_faults else None
            if op.fault == "throttled":
                self.throttled_polls += 3
                op.fault = None
            op.scopes = scopes
            self.ops[op.id] = op
        if op.fault == "token_expires":  # the run answered; every later request needs a new token
            op.fault = None
            self.expire_tokens()
        if op.fault != "canceled":
            self._start_writer(op)
        body = {"bulkOperation": {"id": op.id, "status": op.status}, "userErrors": []}
        return json_response({"data": {"bulkOperationRunQuery": body}, "extensions": {"cost": cost}})

    def _nodes(self, req: Request, query: str, variables: dict, scopes: tuple, rate_limits: bool) -> Response:
        """`nodes(ids: $ids) { ... on Order { id refunds { ... } } }`: the refunds of chosen orders, with the
        connections a bulk query cannot reach. Cost: requested 1 + 10 per id, actual 1 + the objects returned."""
        ids = [str(i) for i in variables.get("ids") or []]
        requested = 1 + NODE_COST * len(ids)
        if requested > MAX_QUERY_COST:
            _, cost = self.cost(0, False)
            message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST})."
            return self._errors(message, "MAX_COST_EXCEEDED", cost)
        if "read_orders" not in scopes:
            _, cost = self.cost(0, False)
            return self._errors(
                "Access denied for nodes field. Required access: `read_orders` access scope.", "ACCESS_DENIED", cost
            )
        firsts = {name: int(n) for name, n in FIRST_RX.findall(query)}
        nodes: list[dict | None] = []
        objects = 0
        numbers = [int(m[1]) if (m := ORDER_GID_RX.fullmatch(node_id)) else None for node_id in ids]
        texts = iter(self.shop.listings["orders"].get_many([n for n in numbers if n is not None], req.clock))
        for node_id, number in zip(ids, numbers, strict=True):
            text = next(texts) if number is not None else None
            rec = json.loads(text) if text is not None else None
            old = rec is not None and "read_all_orders" not in scopes
            if rec is None or (old and parse_ts(rec["created_at"]) < req.clock - OLD_ORDERS):
                nodes.append(None)
                continue
            refunds = refund_details(rec, firsts)
            objects += 1 + sum(
                1 + sum(len(r[c]["nodes"]) for c in ("transactions", "refundLineItems", "orderAdjustments"))
                for r in refunds
            )
            nodes.append({"id": node_id, "refunds": refunds})
        ok, cost = self.cost(requested, rate_limits, actual=1 + objects)
        if not ok:
            return self._errors("Throttled", "THROTTLED", cost)
        return json_response({"data": {"nodes": nodes}, "extensions": {"cost": cost}})

    def _orders_page(self, req: Request, query: str, variables: dict, scopes: tuple, rate_limits: bool) -> Response:
        """An ordinary paged query, `orders(first: $first, after: $after, query: $query, sortKey: ID)`, with the
        order's lineItems and refunds (connections allowed inside the list here) at the query's `first`s.
        Cost: requested 2 + first x (3 + lineItems' first), actual 1 + the objects returned."""
        firsts = {name: int(n) for name, n in FIRST_RX.findall(query)}
        first = int(variables.get("first") or 50)
        requested = 2 + first * (3 + firsts.get("lineItems", 250))
        _, free = self.cost(0, False)
        if requested > MAX_QUERY_COST:
            message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST})."
            return self._errors(message, "MAX_COST_EXCEEDED", free)
        if "read_orders" not in scopes:
            return self._errors("Access denied for orders field. Required access: `read_orders` access scope.",
                                "ACCESS_DENIED", free)  # fmt: skip
        bounds = BOUND_RX.findall(str(variables.get("query") or ""))
        listing = self.shop.listings["orders"]
        after = variables.get("after")
        fence = int(decode_cursor(after)["f"]) if after else None
        q = listing.query("id asc", {**search_params(bounds), "status": "any"}, req.clock)
        texts, page = listing.fetch(q, req.clock, first, fence)
        nodes, objects = [], 0
        old = req.clock - OLD_ORDERS
        for text in texts:
            rec = json.loads(text)
            if "read_all_orders" not in scopes and parse_ts(rec["created_at"]) < old:
                continue
            order, items = order_lines(rec)
            order["lineItems"] = _connection(
                [{k: v for k, v in i.items() if k != "__parentId"} for i in items], firsts.get("lineItems", 250)
            )
            order["refunds"] = refund_details(rec, firsts)
            objects += 1 + len(items) + len(order["refunds"])
            nodes.append(order)
        ok, cost = self.cost(requested, rate_limits, actual=1 + objects)
        if not ok:
            return self._errors("Throttled", "THROTTLED", cost)
        end = encode_cursor({"f": page.next_fence}) if page.next_fence is not None else None
        info = {"hasNextPage": page.next_fence is not None, "endCursor": end}
        return json_response({"data": {"orders": {"pageInfo": info, "nodes": nodes}}, "extensions": {"cost": cost}})

    def _poll(self, req: Request, variables: dict, cost: dict) -> Response:
        op = self.ops.get(str(variables.get("id")))
        if op is None:
            return json_response({"data": {"bulkOperation": None}, "extensions": {"cost": cost}})
        with self.lock:
            op.polls += 1
            if op.status == "CREATED":
                op.status = "RUNNING"
            elif op.status == "RUNNING" and op.polls >= 2:
                self._finish(op, req.base_url)
        node = {
            "id": op.id,
            "status": op.status,
            "errorCode": "INTERNAL_SERVER_ERROR" if op.status == "FAILED" else None,
            "objectCount": str(op.object_count),
            "rootObjectCount": str(op.root_count),
            "url": op.url,
            "partialDataUrl": op.partial_url,
        }
        return json_response({"data": {"bulkOperation": node}, "extensions": {"cost": cost}})

    def _finish(self, op: BulkOp, base_url: str) -> None:
        """Under the lock: the operation's end, once its file is whole (else it stays RUNNING)."""
        if op.fault == "canceled":
            op.status = "CANCELED"
            return
        if not op.written.is_set():
            return
        if op.fault == "failed" or op.broken:
            op.status = "FAILED"
            if not op.broken:
                op.partial_url = self._publish(op, base_url)
            return
        op.status = "COMPLETED"
        op.url = self._publish(op, base_url)

    def _publish(self, op: BulkOp, base_url: str) -> str:
        name = secrets.token_hex(12)
        if op.file is not None:  # removed: the URL has expired
            self.files[name] = BulkFile(op.file)
        return f"{base_url}/__bulk__/{name}.jsonl?X-Goog-Signature={secrets.token_hex(16)}"

    def download(self, req: Request, m: dict) -> Response:
        got = self.files.get(m["name"])
        if got is None:  # what Google Cloud Storage answers for an expired signed URL
            xml = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code></Error>"
            return Response(403, xml, content_type="application/xml; charset=UTF-8")
        return Response(200, file=got.path, content_type="application/jsonl")

    # ------------------------------------------------------------------ bulk files
    def _start_writer(self, op: BulkOp) -> None:
        with self.lock:
            if self.workdir is None:
                self.closing.clear()
                self.workdir = Path(tempfile.mkdtemp(prefix="shopify-bulk-"))
            op.file = self.workdir / f"{op.id.rsplit('/', 1)[-1]}.jsonl"
            t = threading.Thread(target=self._write, args=(op,), name=f"bulk-{op.id}", daemon=True)
            self.writers.append(t)
        t.start()

    def _write(self, op: BulkOp) -> None:
        """The operation's JSONL, a page at a time, outside the lock: polls and other requests go on."""
        try:
            lines = 0
            with op.file.open("wb", buffering=1 << 20) as out:
                for chunk, roots in self.jsonl_pages(op):
                    if self.closing.is_set():  # the sandbox stops: never COMPLETED on half a file
                        op.broken = True
                        return
                    if chunk:
                        out.write(("\n".join(chunk) + "\n").encode())
                    lines += len(chunk)
                    with self.lock:
                        op.object_count, op.root_count = lines, op.root_count + roots
            if op.fault == "failed":  # the partial data: the first half of the lines
                _truncate_lines(op.file, lines // 2)
            elif op.fault == "expired":
                op.file.unlink()
                op.file = None
        except Exception:  # an emulator bug: the operation fails, and stderr says why
            traceback.print_exc()
            op.broken = True
        finally:
            op.written.set()

    def jsonl_pages(self, op: BulkOp) -> Iterator[tuple[list[str], int]]:
        """Every record the operation's search selects, as of the clock it was created, as JSONL lines: one
        page of records at a time, with the number of root records in it."""
        params = search_params(list(op.bounds.items()))
        listing = self.shop.listings[op.root]
        if op.root == "orders":
            params["status"] = "any"
        q = listing.query("id asc", params, op.clock)
        fence = None
        old = op.clock - OLD_ORDERS
        while True:
            if self.bulk_gate is not None:
                self.bulk_gate.acquire()
            texts, page = listing.fetch(q, op.clock, self.bulk_page, fence)
            lines: list[str] = []
            roots = 0
            for text in texts:
                rec = json.loads(text)
                if op.root == "customers":
                    lines.append(json.dumps(customer_line(rec), separators=(",", ":")))
                    roots += 1
                    continue
                if "read_all_orders" not in op.scopes and parse_ts(rec["created_at"]) < old:
                    continue
                order, items = order_lines(rec)
                parent = json.dumps(order, separators=(",", ":"))
                children = [json.dumps(i, separators=(",", ":")) for i in items]
                # Shopify does not promise a parent before its children (unless groupObjects): half come after
                lines += [*children, parent] if rec["id"] % 2 else [parent, *children]
                roots += 1
            yield lines, roots
            if page.next_fence is None:
                return
            fence = page.next_fence

    def close(self) -> None:
        """Stop the writers and remove the bulk files (the sandbox stops)."""
        self.closing.set()
        for t in self.writers:
            t.join(timeout=30)
        with self.lock:
            self.writers.clear()
            self.files.clear()
            workdir, self.workdir = self.workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _truncate_lines(path: Path, keep: int) -> None:
    """Cut a file after its first `keep` lines."""
    size, seen = 0, 0
    with path.open("r+b") as f:
        while seen < keep:
            block = f.read(1 << 20)
            n = block.count(b"\n")
            if seen + n < keep:
                seen, size = seen + n, size + len(block)
                continue
            at = -1
            for _ in range(keep - seen):
                at = block.index(b"\n", at + 1)
            size += at + 1
            seen = keep
        f.truncate(size)


def search_params(bounds: list[tuple[str, str]]) -> dict[str, str]:
    """A search query's updated_at bounds as the listing's inclusive filters."""
    params: dict[str, str] = {}
    for opname, value in bounds:
        us = parse_ts(value)
        if opname in (">=", ">"):
            params["updated_at_min"] = fmt_ts(us + (opname == ">"), "Z")
        else:
            params["updated_at_max"] = fmt_ts(us - (opname == "<"), "Z")
    return params


def _block(text: str, start: int) -> str:
    """The text of the `{...}` block opening at or after `start`."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i : j + 1]
    return text[i:]


def bulk_query_refusal(query: str) -> str | None:
    """What Shopify's bulk executor refuses (shopify.dev, bulk operations "operation restrictions"): more than 5
    connections, or a connection inside a list field (an order's `refunds { transactions { nodes } }`)."""
    if len(CONNECTION_RX.findall(query)) > 5:
        return "Bulk queries cannot contain more than 5 connections."
    for name in LIST_FIELDS:
        for m in re.finditer(rf"\b{name}\b\s*(?:\([^)]*\))?\s*\{{", query):
            if CONNECTION_RX.search(_block(query, m.start())):
                return "Queries that contain a connection field within a list field are not currently supported."
    return None


def client_token(host: str, client_id: str, client_secret: str) -> str:
    """A token by the client credentials grant, for the sandbox's own tools (the emulators' benchmark, the dlt
    reference) that read the store outside the pipeline."""
    import requests

    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    r = requests.post(f"{host}/admin/oauth/access_token", data=form, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def bearer(req: Request) -> str | None:
    return req.header("X-Shopify-Access-Token")


def check_scope(scopes: tuple[str, ...], need: str) -> None:
    if need not in scopes:
        raise ApiError(403, f"[API] This action requires merchant approval for {need} scope.")
