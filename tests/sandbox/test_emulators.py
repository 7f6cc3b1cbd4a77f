"""The four vendor emulators over real HTTP on 127.0.0.1: paging, limits, auth, throttling, faults,
the moving clock, Recharge's 90-day window and deterministic output.

Expected records come straight from the canonical tables (the version visible at the clock).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from sandbox.calendar import DAY, US
from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import client_token
from sandbox.tables import read_table

SHOP = "/admin/api/2026-10"
SETTLED = {"success", "refunded", "partially_refunded"}


# ---------------------------------------------------------------------------- helpers
class Api:
    """Authenticated requests to one sandbox, per vendor."""

    def __init__(self, box: Sandbox):
        self.box = box
        self.conn = {k.removesuffix("_default"): json.loads(v) for k, v in box.connections().items()}
        self.s = requests.Session()
        self._shop_token: str | None = None
        self.shop_token()  # now, so that no test's injected fault or stats count meets the grant

    def shop_token(self) -> str:
        """A token from the Shopify app's client credentials (the sandbox's connection holds no token)."""
        if self._shop_token is None:
            c = self.conn["shopify"]
            self._shop_token = client_token(c["host"], c["login"], c["password"])
        return self._shop_token

    def url(self, vendor: str, path: str) -> str:
        return self.conn[vendor]["host"] + path

    def gorgias(self, path: str, auth: tuple | None = None, **params) -> requests.Response:
        c = self.conn["gorgias"]
        return self.s.get(
            self.url("gorgias", path), params=params, auth=auth or (c["login"], c["password"]), timeout=10
        )

    def recharge(self, path: str, headers: dict | None = None, **params) -> requests.Response:
        h = {"X-Recharge-Access-Token": self.conn["recharge"]["password"], "X-Recharge-Version": "2021-11"}
        return self.s.get(
            self.url("recharge", path), params=params, headers=headers if headers is not None else h, timeout=10
        )

    def shopify(self, path: str, token: str | None = None, **params) -> requests.Response:
        h = {"X-Shopify-Access-Token": token or self.shop_token()}
        url = path if path.startswith("http") else self.url("shopify", path)
        r = self.s.get(url, params=params, headers=h, timeout=10)
        if r.status_code == 401 and token is None:  # the 24-hour token expired as the clock moved: a new one
            self._shop_token = None
            h = {"X-Shopify-Access-Token": self.shop_token()}
            r = self.s.get(url, params=params, headers=h, timeout=10)
        return r

    def easypost(self, path: str, key: str | None = None, **params) -> requests.Response:
        key = key or self.conn["easypost"]["password"]
        return self.s.get(self.url("easypost", path), params=params, auth=(key, ""), timeout=10)

    # -------------------------------------------------------------- full reads, one protocol each
    def all_gorgias(self, path: str, **params) -> tuple[list[dict], int]:
        out, pages, cursor = [], 0, None
        while True:
            r = self.gorgias(path, **params, **({"cursor": cursor} if cursor else {}))
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["data"]
            pages += 1
            cursor = body["meta"]["next_cursor"]
            if not cursor:
                return out, pages

    def all_recharge(self, path: str, **params) -> tuple[list[dict], int]:
        name, out, pages = path.strip("/"), [], 0
        limit = params.get("limit")
        while True:
            r = self.recharge(path, **params)
            assert r.status_code == 200, r.text
            body = r.json()
            out += body[name]
            pages += 1
            if not body["next_cursor"]:
                return out, pages
            params = {"cursor": body["next_cursor"], **({"limit": limit} if limit else {})}

    def all_shopify(self, path: str, **params) -> tuple[list[dict], int]:
        name, out, pages = path.split("/")[-1].removesuffix(".json"), [], 0
        r = self.shopify(path, **params)
        while True:
            assert r.status_code == 200, r.text
            out += r.json()[name]
            pages += 1
            nxt = r.links.get("next", {}).get("url")
            if not nxt:
                return out, pages
            r = self.shopify(nxt)

    def all_easypost(self, path: str, **params) -> tuple[list[dict], int]:
        name, out, pages = path.split("/")[-1], [], 0
        while True:
            r = self.easypost(path, **params)
            assert r.status_code == 200, r.text
            body = r.json()
            out += body[name]
            pages += 1
            if not body["has_more"]:
                return out, pages
            params = {**params, "before_id": body[name][-1]["id"]}


def visible(sim: Path, table: str, clock: int) -> dict:
    """id -> the canonical row the vendor shows at `clock` (latest v_from <= clock; ties: the later row)."""
    out: dict = {}
    for r in read_table(sim, table).to_pylist():
        if r["v_from"] <= clock and (r["id"] not in out or r["v_from"] >= out[r["id"]]["v_from"]):
            out[r["id"]] = r
    return out


def ids(records: list[dict]) -> list:
    return [r["id"] for r in records]


def assert_complete(records: list[dict], expected: dict) -> None:
    got = ids(records)
    dupes = [i for i, n in Counter(got).items() if n > 1]
    assert not dupes, f"duplicates: {dupes[:5]}"
    assert set(got) == set(expected), f"missing {len(set(expected) - set(got))}, extra {len(set(got) - set(expected))}"


def parse(ts: str) -> int:
    """Any of the vendors' ISO forms -> µs (naive means UTC)."""
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def post(api: Api, vendor: str, action: str, payload: dict | None = None) -> dict:
    r = requests.post(api.url(vendor, f"/__sandbox__/{action}"), json=payload or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def box(tiny):
    with Sandbox(tiny, rate_limits=False, slow_seconds=1.0) as sb:
        yield sb


@pytest.fixture
def api(box):
    yield Api(box)
    box.set_faults("none")
    box.set_rate_limits(False)


# ---------------------------------------------------------------------------- connections
def test_connections_are_airflow_json_with_exactly_the_documented_fields(box):
    conns = {k: json.loads(v) for k, v in box.connections().items()}
    assert set(conns) == {"gorgias_default", "recharge_default", "shopify_default", "easypost_default"}
    assert set(conns["gorgias_default"]) == {"conn_type", "host", "login", "password", "extra"}
    assert set(conns["recharge_default"]) == {"conn_type", "host", "password", "extra"}
    assert set(conns["shopify_default"]) == {"conn_type", "host", "login", "password", "extra"}  # client ID, secret
    assert conns["shopify_default"]["extra"] == {"api_version": "2026-10", "source_identity": box.identity}
    assert {c["extra"]["source_identity"] for c in conns.values()} == {box.identity}  # what the warehouse records
    assert set(conns["easypost_default"]) == {"conn_type", "host", "password", "extra"}
    for c in conns.values():
        assert c["conn_type"] == "http" and re.fullmatch(r"http://127\.0\.0\.1:\d+", c["host"])
    assert len({c["host"] for c in conns.values()}) == 4


# ---------------------------------------------------------------------------- paging: every record, once
@pytest.mark.parametrize(
    ("path", "table", "params"),
    [
        ("/api/tickets", "gorgias_tickets", {"limit": 100}),
        ("/api/tickets", "gorgias_tickets", {"limit": 100, "order_by": "updated_datetime:asc"}),
        ("/api/customers", "gorgias_customers", {"limit": 100, "order_by": "updated_datetime:desc"}),
        ("/api/messages", "gorgias_messages", {"limit": 100}),
        ("/api/users", "gorgias_users", {"limit": 4}),
        ("/api/tags", "gorgias_tags", {"limit": 3}),
        ("/api/satisfaction-surveys", "gorgias_surveys", {"limit": 3}),  # tiny holds a few surveys
    ],
)
def test_gorgias_pages_through_every_visible_record_once(api, tiny, path, table, params):
    records, pages = api.all_gorgias(path, **params)
    assert pages > 1
    assert_complete(records, visible(tiny, table, api.box.clock_us))


@pytest.mark.parametrize(
    ("path", "table", "params"),
    [
        ("/customers", "recharge_customers", {"limit": 250}),
        ("/subscriptions", "recharge_subscriptions", {"limit": 250, "sort_by": "updated_at-desc"}),
        ("/orders", "recharge_orders", {"limit": 250, "sort_by": "id-desc"}),
        ("/charges", "recharge_charges", {"limit": 250, "sort_by": "updated_at-asc"}),
    ],
)
def test_recharge_pages_through_every_visible_record_once(api, tiny, path, table, params):
    records, pages = api.all_recharge(path, **params)
    assert pages > 1
    clock = api.box.clock_us
    want = visible(tiny, table, clock)
    if table == "recharge_charges":  # the 90-day window (default retention)
        want = {i: r for i, r in want.items() if not (r["status"] in SETTLED and r["processed_at"] < clock - 90 * DAY)}
    assert_complete(records, want)
    stamps = [r["updated_at"] for r in records]
    if params.get("sort_by") == "updated_at-asc":
        assert [parse(s) for s in stamps] == sorted(parse(s) for s in stamps)


@pytest.mark.parametrize(
    ("path", "table", "params"),
    [
        (f"{SHOP}/orders.json", "shopify_orders", {"limit": 250, "status": "any"}),
        (f"{SHOP}/orders.json", "shopify_orders", {"limit": 250, "status": "any", "order": "updated_at desc"}),
        (f"{SHOP}/customers.json", "shopify_customers", {"limit": 100}),
    ],
)
def test_shopify_pages_through_every_visible_record_once(api, tiny, path, table, params):
    records, pages = api.all_shopify(path, **params)
    assert pages > 1
    assert_complete(records, visible(tiny, table, api.box.clock_us))


@pytest.mark.parametrize(
    ("path", "table"), [("/v2/shipments", "easypost_shipments"), ("/v2/claims", "easypost_claims")]
)
def test_easypost_pages_newest_first_through_every_visible_record_once(api, tiny, path, table):
    records, pages = api.all_easypost(path, page_size=100 if "shipments" in path else 2)
    assert pages > 1
    want = visible(tiny, table, api.box.clock_us)
    assert_complete(records, want)
    created = [parse(r["created_at"]) for r in records]
    assert created == sorted(created, reverse=True)


def test_a_sandbox_of_some_vendors_serves_just_those_on_the_shared_clock(tiny):
    """The bench runs each vendor's emulator in a process of its own (real vendors are separate services): one
    vendor's sandbox serves its API alone, and its clock starts where the whole sandbox's does."""
    start = int(json.loads((tiny / "manifest.json").read_text())["clock_us"])
    with Sandbox(tiny, rate_limits=False, vendors=("shopify",)) as one:
        assert set(one.connections()) == {"shopify_default"}
        assert set(one.urls) == {"shopify"}
        host = json.loads(one.connections()["shopify_default"])["host"]
        assert requests.get(f"{host}/__sandbox__/clock", timeout=10).json()["clock_us"] == start
    with pytest.raises(ValueError, match="unknown vendors"):
        Sandbox(tiny, vendors=("shopify", "stripe"))


def test_empty_results_have_no_next_page(api):
    future = "2031-01-01T00:00:00+00:00"
    r = api.gorgias("/api/customers", email="nobody@nowhere.example")
    assert r.status_code == 200 and r.json()["data"] == [] and r.json()["meta"]["next_cursor"] is None
    body = api.recharge("/charges", updated_at_min=future).json()
    assert body == {"charges": [], "next_cursor": None, "previous_cursor": None}
    r = api.shopify(f"{SHOP}/orders.json", status="any", created_at_min=future)
    assert r.json() == {"orders": []} and "Link" not in r.headers
    assert api.easypost("/v2/shipments", start_datetime=future).json() == {"shipments": [], "has_more": False}


def test_exactly_one_page_has_no_next_page(api, tiny):
    clock = api.box.clock_us
    users = visible(tiny, "gorgias_users", clock)
    body = api.gorgias("/api/users", limit=len(users)).json()
    assert len(body["data"]) == len(users) and body["meta"]["next_cursor"] is None

    charges = [r for r in visible(tiny, "recharge_charges", clock).values() if r["status"] == "success"]
    cust, n = Counter(r["customer_id"] for r in charges).most_common(1)[0]
    body = api.recharge("/charges", customer_id=cust, status="success", limit=n).json()
    assert n > 1 and len(body["charges"]) == n and body["next_cursor"] is None

    some = sorted(visible(tiny, "shopify_orders", clock))[:3]
    r = api.shopify(f"{SHOP}/orders.json", status="any", ids=",".join(map(str, some)), limit=3)
    assert sorted(ids(r.json()["orders"])) == some and "Link" not in r.headers

    claims = visible(tiny, "easypost_claims", clock)
    body = api.easypost("/v2/claims", page_size=len(claims)).json()
    assert len(body["claims"]) == len(claims) and body["has_more"] is False


# ---------------------------------------------------------------------------- page sizes
def test_page_size_defaults_and_maximums(api):
    assert len(api.gorgias("/api/tickets").json()["data"]) == 30
    assert len(api.gorgias("/api/tickets", limit=100).json()["data"]) == 100
    assert api.gorgias("/api/tickets", limit=101).status_code == 400
    assert len(api.recharge("/charges").json()["charges"]) == 50
    assert len(api.recharge("/charges", limit=250).json()["charges"]) == 250
    r = api.recharge("/charges", limit=251)
    assert r.status_code == 422 and "errors" in r.json()
    assert len(api.shopify(f"{SHOP}/orders.json", status="any").json()["orders"]) == 50
    assert len(api.shopify(f"{SHOP}/orders.json", status="any", limit=250).json()["orders"]) == 250
    assert api.shopify(f"{SHOP}/orders.json", limit=251).status_code == 400
    assert len(api.easypost("/v2/shipments").json()["shipments"]) == 20
    assert len(api.easypost("/v2/shipments", page_size=100).json()["shipments"]) == 100
    assert api.easypost("/v2/shipments", page_size=101).status_code == 422


# ---------------------------------------------------------------------------- auth
def test_bad_or_missing_credentials_get_401_with_a_vendor_shaped_body(api):
    r = api.gorgias("/api/tickets", auth=(api.conn["gorgias"]["login"], "wrong"))
    assert r.status_code == 401 and "msg" in r.json()["error"]
    r = api.recharge("/charges", headers={"X-Recharge-Access-Token": "wrong", "X-Recharge-Version": "2021-11"})
    assert r.status_code == 401 and "errors" in r.json()
    r = api.shopify(f"{SHOP}/orders.json", token="wrong")
    assert r.status_code == 401 and "Invalid API key or access token" in r.json()["errors"]
    r = api.easypost("/v2/shipments", key="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"].startswith("APIKEY")
    assert requests.get(api.url("easypost", "/v2/shipments"), timeout=10).status_code == 401
    assert requests.get(api.url("gorgias", "/api/tickets"), timeout=10).status_code == 401


def test_recharge_pins_api_version_2021_11(api):
    token = api.conn["recharge"]["password"]
    for headers in (
        {"X-Recharge-Access-Token": token},
        {"X-Recharge-Access-Token": token, "X-Recharge-Version": "2021-01"},
    ):
        r = api.recharge("/charges", headers=headers)
        assert r.status_code == 426 and "errors" in r.json()


# ---------------------------------------------------------------------------- cursor rules
def test_recharge_cursor_with_any_other_parameter_but_limit_is_422(api):
    first = api.recharge("/charges", limit=10, sort_by="updated_at-asc", status="success").json()
    cursor = first["next_cursor"]
    ok = api.recharge("/charges", cursor=cursor, limit=10)
    assert ok.status_code == 200 and all(c["status"] == "success" for c in ok.json()["charges"])
    for extra in ({"sort_by": "updated_at-asc"}, {"status": "success"}, {"updated_at_min": "2026-01-01"}):
        r = api.recharge("/charges", cursor=cursor, limit=10, **extra)
        assert r.status_code == 422 and "errors" in r.json()
    back = api.recharge("/charges", cursor=ok.json()["previous_cursor"], limit=10).json()
    assert ids(back["charges"]) == ids(first["charges"])


def test_shopify_page_info_tolerates_only_limit_and_fields(api):
    r = api.shopify(f"{SHOP}/orders.json", status="any", limit=5, updated_at_min="2026-01-01T00:00:00-06:00")
    nxt = r.links["next"]["url"]
    assert "updated_at_min" not in nxt and "page_info=" in nxt and "limit=5" in nxt
    page_info = re.search(r"page_info=([^&]+)", nxt).group(1)
    assert api.shopify(f"{SHOP}/orders.json", page_info=page_info, limit=5, fields="id,updated_at").status_code == 200
    bad = api.shopify(f"{SHOP}/orders.json", page_info=page_info, created_at_min="2026-01-01T00:00:00-06:00")
    assert bad.status_code == 400
    assert bad.json()["errors"] == "created_at_min cannot be passed when page_info is present"
    assert api.shopify(f"{SHOP}/orders.json", page_info=page_info, status="any").status_code == 400
    two = api.shopify(nxt)
    prev = two.links["previous"]["url"]
    assert ids(api.shopify(prev).json()["orders"]) == ids(r.json()["orders"])
    only = api.shopify(f"{SHOP}/orders.json", status="any", fields="id,total_price", limit=3).json()["orders"]
    assert all(set(o) == {"id", "total_price"} for o in only)


def test_shopify_status_defaults_to_open_and_versions_are_checked(api, tiny):
    clock = api.box.clock_us
    orders = visible(tiny, "shopify_orders", clock)
    open_ids = {i for i, o in orders.items() if o["cancelled_at"] is None and o["created"] >= clock - 30 * DAY}
    records, _ = api.all_shopify(f"{SHOP}/orders.json", limit=250)
    assert set(ids(records)) == open_ids and 0 < len(open_ids) < len(orders)
    assert all(r["closed_at"] is None for r in records)
    closed, _ = api.all_shopify(f"{SHOP}/orders.json", limit=250, status="closed")
    assert closed and all(r["closed_at"] and r["cancelled_at"] is None for r in closed)
    cancelled, _ = api.all_shopify(f"{SHOP}/orders.json", limit=250, status="cancelled")
    assert set(ids(cancelled)) == {i for i, o in orders.items() if o["cancelled_at"] is not None}
    assert api.shopify("/admin/api/2025-13/orders.json").status_code == 404
    assert api.shopify("/admin/api/latest/orders.json").status_code == 404


def test_gorgias_cursor_must_come_with_the_same_order_by_and_filters(api):
    body = api.gorgias("/api/tickets", limit=5, order_by="updated_datetime:desc").json()
    cursor = body["meta"]["next_cursor"]
    assert api.gorgias("/api/tickets", limit=5, order_by="updated_datetime:desc", cursor=cursor).status_code == 200
    assert api.gorgias("/api/tickets", limit=5, order_by="created_datetime:desc", cursor=cursor).status_code == 400
    assert api.gorgias("/api/tickets", limit=5, cursor=cursor).status_code == 400  # default order_by differs
    assert (
        api.gorgias(
            "/api/tickets", limit=5, order_by="updated_datetime:desc", trashed="false", cursor=cursor
        ).status_code
        == 400
    )
    assert api.gorgias("/api/messages", order_by="created_datetime:asc").status_code == 400
    assert api.gorgias("/api/satisfaction-surveys", order_by="created_datetime:desc").status_code == 400


def test_gorgias_has_no_ticket_date_filter_and_returns_trashed_and_spam_by_default(api, tiny):
    tickets = visible(tiny, "gorgias_tickets", api.box.clock_us)
    first = api.gorgias("/api/tickets", limit=100, updated_datetime="2031-01-01").json()["data"]
    assert len(first) == 100  # the unknown date parameter filters nothing
    records, _ = api.all_gorgias("/api/tickets", limit=100)
    assert any(r["spam"] for r in records) and any(r["trashed_datetime"] for r in records)
    kept, _ = api.all_gorgias("/api/tickets", limit=100, trashed="false")
    assert set(ids(kept)) == {i for i, t in tickets.items() if t["trashed"] is None}


# ---------------------------------------------------------------------------- throttling
def burst(call, n: int) -> list[requests.Response]:
    return [call() for _ in range(n)]


def test_throttling_signals_are_exactly_each_vendors(api):
    api.box.set_rate_limits(True)
    api.box.reset_stats()
    g = burst(lambda: api.gorgias("/api/tags", limit=1), 45)
    assert [r.status_code for r in g[:40]] == [200] * 40 and g[-1].status_code == 429
    assert g[-1].headers["X-Gorgias-Account-Api-Call-Limit"] == "40/40"
    assert "Retry-after" in list(g[-1].headers.keys()) and int(g[-1].headers["Retry-after"]) >= 1
    assert all("X-Gorgias-Account-Api-Call-Limit" in r.headers for r in g)

    s = burst(lambda: api.shopify(f"{SHOP}/customers.json", limit=1), 45)
    assert s[-1].status_code == 429 and s[-1].headers["Retry-After"] == "2.0"
    assert s[-1].headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
    assert s[0].headers["X-Shopify-Shop-Api-Call-Limit"] in ("1/40", "2/40")

    rc = burst(lambda: api.recharge("/customers", limit=1), 45)
    assert rc[-1].status_code == 429 and "Retry-After" not in rc[-1].headers and "errors" in rc[-1].json()

    e = burst(lambda: api.easypost("/v2/claims", page_size=1), 12)
    assert e[-1].status_code == 429
    assert set(e[-1].headers) == {"Content-Type", "Content-Length"}  # no headers at all beyond the body's

    stats = api.box.stats()
    for vendor, cap in (("gorgias", 40), ("shopify", 40), ("recharge", 40), ("easypost", 5)):
        assert stats[vendor]["throttled_429"] >= 1 and stats[vendor]["statuses"]["200"] >= cap
        assert stats[vendor]["max_requests_in_window"] >= cap + 1
    time.sleep(0.6)  # EasyPost drains 5 requests/s
    assert api.easypost("/v2/claims", page_size=1).status_code == 200


# ---------------------------------------------------------------------------- faults
def test_each_fault_kind_is_observable(api):
    box = api.box
    for kind in ("5xx", "429", "html"):
        box.inject("shopify", kind)
        r = api.shopify(f"{SHOP}/customers.json", limit=2)
        if kind == "5xx":
            assert r.status_code in (500, 502, 503)
        elif kind == "429":
            assert r.status_code == 429 and r.headers["Retry-After"] == "2.0"
        else:
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
            with pytest.raises(ValueError):
                r.json()
    box.inject("recharge", "truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.recharge("/charges", limit=100)
    box.inject("easypost", "slow")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.s.get(api.url("easypost", "/v2/shipments"), auth=(api.conn["easypost"]["password"], ""), timeout=0.3)
    assert time.monotonic() - started < 1.0
    # repeated records: the cursor page starts a few rows before the previous page ended
    first = api.gorgias("/api/tickets", limit=20).json()
    box.inject("gorgias", "repeat")
    second = api.gorgias("/api/tickets", limit=20, cursor=first["meta"]["next_cursor"]).json()
    repeated = set(ids(first["data"])) & set(ids(second["data"]))
    assert 1 <= len(repeated) <= 5 and ids(second["data"])[: len(repeated)] == ids(first["data"])[-len(repeated) :]
    faults = {v: s["faults"] for v, s in box.stats().items()}
    assert faults["shopify"].keys() >= {"5xx", "429", "html"} and faults["gorgias"].get("repeat", 0) >= 1
    assert faults["recharge"].get("truncated", 0) >= 1 and faults["easypost"].get("slow", 0) >= 1
    assert api.recharge("/charges", limit=100).status_code == 200  # the next request is served normally


def outcomes(sb: Sandbox, n: int) -> list[str]:
    api = Api(sb)
    out = []
    for _ in range(n):
        try:
            r = api.recharge("/customers", limit=3)
            out.append("html" if r.headers["Content-Type"].startswith("text/html") else str(r.status_code))
        except requests.exceptions.ChunkedEncodingError:
            out.append("truncated")
    return out


def test_heavy_faults_are_seeded_and_never_more_than_three_in_a_row(tiny):
    runs = []
    for _ in range(2):
        with Sandbox(tiny, faults="heavy", rate_limits=False, slow_seconds=0.001, seed=7) as sb:
            runs.append(outcomes(sb, 250))
            stats = sb.stats()["recharge"]
    assert runs[0] == runs[1]
    streak = longest = 0
    for o in runs[0]:
        streak = streak + 1 if o != "200" else 0
        longest = max(longest, streak)
    assert 1 <= longest <= 3
    seen = Counter(runs[0])
    assert {"429", "html", "truncated"} <= seen.keys() and {"500", "502", "503"} & seen.keys()
    assert stats["faults"]["5xx"] == seen["500"] + seen["502"] + seen["503"]
    assert stats["faults"]["429"] == seen["429"] and stats["faults"]["html"] == seen["html"]
    assert stats["faults"]["truncated"] == seen["truncated"] and stats["faults"].get("slow", 0) > 0


# ---------------------------------------------------------------------------- the moving clock
def test_advancing_the_clock_shows_new_and_updated_records_to_incremental_filters(tiny):
    with Sandbox(tiny, rate_limits=False, recharge_retention_days=0) as sb:
        api = Api(sb)
        t0 = sb.clock_us
        since = datetime.fromtimestamp(t0 / US).astimezone().isoformat()
        before, _ = api.all_recharge("/charges", limit=250, updated_at_min=since, sort_by="updated_at-asc")
        shop_before, _ = api.all_shopify(f"{SHOP}/orders.json", status="any", updated_at_min=since)
        clock = post(api, "shopify", "advance", {"days": 10})["clock_us"]
        assert (
            clock
            == t0 + 10 * DAY
            == sb.clock_us
            == requests.get(api.url("easypost", "/__sandbox__/clock"), timeout=5).json()["clock_us"]
        )
        after, _ = api.all_recharge("/charges", limit=250, updated_at_min=since, sort_by="updated_at-asc")
        want = {i: r for i, r in visible(tiny, "recharge_charges", clock).items() if r["v_from"] >= t0}
        assert len(after) > len(before) and set(ids(after)) == set(want)
        assert {c["id"]: parse(c["updated_at"]) for c in after} == {i: r["v_from"] for i, r in want.items()}
        shop_after, _ = api.all_shopify(f"{SHOP}/orders.json", status="any", updated_at_min=since)
        assert len(shop_after) > len(shop_before)
        assert set(ids(shop_after)) == {
            i for i, r in visible(tiny, "shopify_orders", clock).items() if r["v_from"] >= t0
        }
        newest = api.gorgias("/api/tickets", limit=1, order_by="updated_datetime:desc").json()["data"][0]
        assert t0 < parse(newest["updated_datetime"]) <= clock


def test_records_move_while_a_client_pages_there_is_no_snapshot(tiny):
    """Oldest-updated first: a subscription renewed after it was read is served again later (a
    duplicate), and nothing is missed. Newest-created first: records created meanwhile are not seen."""
    with Sandbox(tiny, rate_limits=False) as sb:
        api = Api(sb)
        seen, params = [], {"limit": 50, "sort_by": "updated_at-asc"}
        for _ in range(6):
            body = api.recharge("/subscriptions", **params).json()
            seen += ids(body["subscriptions"])
            params = {"limit": 50, "cursor": body["next_cursor"]}
        first = api.gorgias("/api/tickets", limit=50).json()
        sb.advance(20 * DAY / US)  # past the renewals of the 15th
        while params.get("cursor"):
            body = api.recharge("/subscriptions", **params).json()
            seen += ids(body["subscriptions"])
            params = {"limit": 50, "cursor": body["next_cursor"]}
        dupes = [i for i, n in Counter(seen).items() if n > 1]
        assert dupes, "a subscription updated after it was read is served again at its new position"
        assert set(seen) == set(visible(tiny, "recharge_subscriptions", sb.clock_us))
        cursor, later = first["meta"]["next_cursor"], []
        while cursor:
            body = api.gorgias("/api/tickets", limit=100, cursor=cursor).json()
            later += body["data"]
            cursor = body["meta"]["next_cursor"]
        now = set(visible(tiny, "gorgias_tickets", sb.clock_us))
        missed = now - set(ids(first["data"] + later))
        assert missed and all(
            parse(t["created_datetime"]) <= parse(first["data"][-1]["created_datetime"]) for t in later
        )


# ---------------------------------------------------------------------------- Recharge's 90-day window
def test_recharge_hides_settled_charges_older_than_the_retention(tiny):
    with Sandbox(tiny, rate_limits=False) as sb, Sandbox(tiny, rate_limits=False, recharge_retention_days=0) as off:
        sb.advance(60 * DAY / US)  # the tiny company is 3 months old: age it past the 90 days
        off.advance(60 * DAY / US)
        clock = sb.clock_us
        charges = visible(tiny, "recharge_charges", clock)
        old = {i for i, r in charges.items() if r["status"] in SETTLED and r["processed_at"] < clock - 90 * DAY}
        kept_old = {i for i, r in charges.items() if r["status"] not in SETTLED and r["created"] < clock - 90 * DAY}
        assert old and kept_old, "settled and unsettled charges older than 90 days"
        served, _ = Api(sb).all_recharge("/charges", limit=250)
        assert set(ids(served)) == set(charges) - old and kept_old <= set(ids(served))
        hidden = min(old)
        assert Api(sb).recharge(f"/charges/{hidden}").status_code == 404
        everything, _ = Api(off).all_recharge("/charges", limit=250)
        assert set(ids(everything)) == set(charges)
        assert Api(off).recharge(f"/charges/{hidden}").json()["charge"]["id"] == hidden


def test_recharge_withholds_the_orders_of_chosen_months_and_serves_the_rest(tiny):
    """The knob behind the incomplete-history tests (business rules §5): orders whose scheduled date (UTC) falls
    in a withheld month are not served, by list or by id; every other order is."""
    with Sandbox(tiny, rate_limits=False, recharge_withheld_order_months=("2026-01",)) as sb:
        orders = visible(tiny, "recharge_orders", sb.clock_us)
        month = {i: datetime.fromtimestamp(r["scheduled_at"] / US, UTC).strftime("%Y-%m") for i, r in orders.items()}
        withheld = {i for i, m in month.items() if m == "2026-01"}
        assert withheld and len(withheld) < len(orders)
        served, _ = Api(sb).all_recharge("/orders", limit=250)
        assert set(ids(served)) == set(orders) - withheld
        assert Api(sb).recharge(f"/orders/{min(withheld)}").status_code == 404


# ---------------------------------------------------------------------------- wire formats
def test_wire_formats_match_the_vendor_reference(api, tiny):
    clock = api.box.clock_us
    canon = visible(tiny, "shopify_orders", clock)
    orders, _ = api.all_shopify(f"{SHOP}/orders.json", status="any", limit=250)
    assert {o["created_at"][-6:] for o in orders} == {"-06:00", "-05:00"}  # DST moves the shop's offset
    for o in orders:
        c = canon[o["id"]]
        assert o["total_price"] == f"{c['total_cents'] // 100}.{c['total_cents'] % 100:02d}"
        assert parse(o["updated_at"]) == c["v_from"] and o["name"] == f"#{c['number']}"
    refunded = [o for o in orders if o["refunds"]]
    assert refunded
    for o in refunded:
        for rf in o["refunds"]:
            for line in rf["refund_line_items"]:
                assert isinstance(line["subtotal"], int | float) and isinstance(line["total_tax"], int | float)
                assert isinstance(line["subtotal_set"]["shop_money"]["amount"], str)
            assert all(isinstance(t["amount"], str) for t in rf["transactions"])
            assert parse(rf["created_at"]) <= parse(o["updated_at"])
    # Refunds as real Shopify serves them: pre-tax line subtotals with their tax, shipping and discrepancies
    # as negative order adjustments (strings or numbers), so goods refunded and money returned differ.
    refunds = [rf for o in refunded for rf in o["refunds"]]
    adjustments = [a for rf in refunds for a in rf["order_adjustments"]]
    assert "refund_discrepancy" in {a["kind"] for a in adjustments} <= {"shipping_refund", "refund_discrepancy"}
    assert all(float(a["amount"]) < 0 for a in adjustments)
    assert {type(a["amount"]) for a in adjustments} == {str, float}
    assert any(line["total_tax"] > 0 for rf in refunds for line in rf["refund_line_items"])
    assert any(not rf["refund_line_items"] and rf["order_adjustments"] for rf in refunds)  # goodwill only

    tickets, _ = api.all_gorgias("/api/tickets", limit=100)
    forms = {bool(re.search(r"\.\d{6}\+00:00$", t["created_datetime"])) for t in tickets}
    assert forms == {True, False}  # mixed µs, same instants
    gcanon = visible(tiny, "gorgias_tickets", clock)
    assert all(parse(t["created_datetime"]) == gcanon[t["id"]]["created"] for t in tickets)
    tag_names = {tag["name"] for t in tickets for tag in t["tags"]}
    assert {"CS-Upsell-Welcome", " cs-upsell-welcome ", "CS-Winback"} <= tag_names  # as agents typed them

    charge = api.recharge("/charges", limit=1, status="success").json()["charges"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", charge["scheduled_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", charge["created_at"])
    assert isinstance(charge["external_order_id"]["ecommerce"], str)
    order = api.recharge("/orders", limit=1).json()["orders"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", order["scheduled_at"])

    shipment = api.easypost("/v2/shipments", page_size=1).json()["shipments"][0]
    assert shipment["created_at"].endswith("Z") and re.fullmatch(r"\d+\.\d{5}", shipment["fees"][0]["amount"])
    claims, _ = api.all_easypost("/v2/claims", page_size=100)
    naive = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?"
    for cl in claims:
        assert re.fullmatch(naive, cl["created_at"]) and re.fullmatch(naive, cl["status_timestamp"])
        assert cl["history"][-1]["status"] == cl["status"] and cl["history"][0]["status"] == "submitted"
        assert (cl["approved_amount"] is None) == (cl["status"] not in ("approved", "approved_partial"))


def test_single_record_endpoints(api, tiny):
    clock = api.box.clock_us
    tid = max(i for i, t in visible(tiny, "gorgias_tickets", clock).items() if not t["spam"])
    ticket = api.gorgias(f"/api/tickets/{tid}").json()
    msgs = [m for m in visible(tiny, "gorgias_messages", clock).values() if m["ticket_id"] == tid]
    assert ticket["id"] == tid and sorted(ids(ticket["messages"])) == sorted(m["id"] for m in msgs)
    assert ticket["requester"]["id"] == ticket["customer"]["id"]
    assert api.gorgias("/api/tickets/1").status_code == 404
    assert api.gorgias("/api/users/0").json()["email"] == api.conn["gorgias"]["login"]
    oid = next(iter(visible(tiny, "shopify_orders", clock)))
    assert api.shopify(f"{SHOP}/orders/{oid}.json").json()["order"]["id"] == oid
    assert "refunds" in api.shopify(f"{SHOP}/orders/{oid}/refunds.json").json()
    sid = next(iter(visible(tiny, "easypost_shipments", clock)))
    assert api.easypost(f"/v2/shipments/{sid}").json()["id"] == sid
    assert api.easypost("/v2/shipments/shp_nope").status_code == 404
    cid = next(iter(visible(tiny, "recharge_customers", clock)))
    assert api.recharge(f"/customers/{cid}").json()["customer"]["id"] == cid


def test_easypost_before_id_combines_with_date_filters(api, tiny):
    clock = api.box.clock_us
    start, end = "2026-02-01T00:00:00Z", "2026-02-15T00:00:00Z"
    records, pages = api.all_easypost("/v2/shipments", page_size=10, start_datetime=start, end_datetime=end)
    lo, hi = parse(start), parse(end)
    want = {i: r for i, r in visible(tiny, "easypost_shipments", clock).items() if lo <= r["created"] <= hi}
    assert pages > 1
    assert_complete(records, want)


# ---------------------------------------------------------------------------- control and determinism
def test_control_endpoints_on_every_port(api):
    for vendor in ("gorgias", "recharge", "shopify", "easypost"):
        assert requests.get(api.url(vendor, "/__sandbox__/clock"), timeout=5).json()["clock_us"] == api.box.clock_us
    post(api, "recharge", "reset-stats")
    api.recharge("/customers", limit=1)
    stats = requests.get(api.url("gorgias", "/__sandbox__/stats"), timeout=5).json()
    assert stats["recharge"]["requests"] == 1 and stats["recharge"]["paths"] == {"/customers": 1}
    assert stats["gorgias"]["requests"] == 0
    assert post(api, "gorgias", "faults", {"mode": "light"}) == {"mode": "light"}
    assert post(api, "gorgias", "faults", {"mode": "none"}) == {"mode": "none"}
    assert post(api, "easypost", "rate-limits", {"enabled": False}) == {"enabled": False}
    post(api, "gorgias", "inject", {"kind": "5xx"})
    assert api.gorgias("/api/tags").status_code in (500, 502, 503)
    assert requests.post(api.url("gorgias", "/__sandbox__/faults"), json={"mode": "wild"}, timeout=5).status_code == 400


def test_same_data_and_clock_serve_identical_bytes(api, tiny):
    def bodies(a: Api) -> list[bytes]:
        out = [
            a.gorgias("/api/tickets", limit=50).content,
            a.gorgias("/api/customers", limit=50).content,
            a.recharge("/charges", limit=100, sort_by="updated_at-desc").content,
            a.shopify(f"{SHOP}/orders.json", status="any", limit=100).content,
            a.easypost("/v2/claims").content,
        ]
        cursor = a.recharge("/subscriptions", limit=30).json()["next_cursor"]
        return [*out, a.recharge("/subscriptions", cursor=cursor, limit=30).content]

    with Sandbox(tiny, rate_limits=False) as other:
        assert bodies(api) == bodies(Api(other))


def test_serve_prints_airflow_exports_and_stops_on_sigterm(tiny):
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.emulators", str(tiny), "--no-rate-limits"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        conns = {}
        for line in lines:
            m = re.fullmatch(r"export AIRFLOW_CONN_([A-Z]+)_DEFAULT='(.+)'", line)
            assert m, line
            conns[m.group(1).lower()] = json.loads(m.group(2))
        assert set(conns) == {"gorgias", "recharge", "shopify", "easypost"}
        c = conns["easypost"]
        assert requests.get(c["host"] + "/v2/claims", auth=(c["password"], ""), timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_a_batch_of_records_by_id_is_each_record_by_id(box):
    """`nodes(ids:)` renders its orders in one batch: the same texts as one at a time, None where an id is
    unknown or not yet visible, in the order asked (repeats too)."""
    orders = box.vendors["shopify"].listings["orders"]
    known = sorted(set(orders.index.cols["id"].tolist()))
    ids = [*known[:40], *known[-40:], 10**15, -5, known[0], known[0]]
    texts = orders.get_many(ids, box.clock_us)
    assert texts == [orders.get(i, box.clock_us) for i in ids]
    assert None in texts and sum(t is not None for t in texts) > 40
