"""The sandbox's Shopify as a 2026 store (vendor-apis.md §3a), over real HTTP: the client credentials grant and
its 24-hour tokens, graphql.json with cost extensions and errors as HTTP 200, and the one-bulk-query-at-a-time
limit of versions before 2026-01."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sandbox.emulators.engine import parse_ts
from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import OLD_ORDERS, client_token, customer_line, order_lines, search_params

RUN = 'mutation { bulkOperationRunQuery(query: "{ orders { edges { node { id } } } }") { bulkOperation { id } } }'


@pytest.fixture
def shop(tiny):
    with Sandbox(tiny, rate_limits=True) as box:
        yield box, json.loads(box.connections()["shopify_default"])


def graphql(conn: dict, token: str, query: str, version: str = "2026-10") -> requests.Response:
    url = f"{conn['host']}/admin/api/{version}/graphql.json"
    return requests.post(url, json={"query": query}, headers={"X-Shopify-Access-Token": token}, timeout=10)


def test_a_granted_token_lasts_24_hours_of_the_sandbox_clock(shop):
    box, conn = shop
    r = requests.post(
        f"{conn['host']}/admin/oauth/access_token",
        data={"grant_type": "client_credentials", "client_id": conn["login"], "client_secret": conn["password"]},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 86399
    assert set(r.json()["scope"].split(",")) == {"read_orders", "read_all_orders", "read_customers"}
    token = r.json()["access_token"]
    assert graphql(conn, token, "{ shop { name } }").status_code == 200
    box.advance(86_000)
    assert graphql(conn, token, "{ shop { name } }").status_code == 200
    box.advance(400)
    assert graphql(conn, token, "{ shop { name } }").status_code == 401
    wrong = {"grant_type": "client_credentials", "client_id": conn["login"], "client_secret": "shpss_wrong"}
    assert requests.post(f"{conn['host']}/admin/oauth/access_token", data=wrong, timeout=10).status_code == 401


def test_graphql_answers_carry_their_cost_and_throttle_as_http_200(shop):
    box, conn = shop
    token = client_token(conn["host"], conn["login"], conn["password"])
    body = graphql(conn, token, "{ shop { name } }").json()
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == 2000 and status["restoreRate"] == 100
    box.vendors["shopify"].admin.points = 0  # an empty bucket
    r = graphql(conn, token, "{ shop { name } }")
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_before_2026_01_only_one_bulk_query_runs_at_a_time(shop):
    _, conn = shop
    token = client_token(conn["host"], conn["login"], conn["password"])
    first = graphql(conn, token, RUN, "2025-10").json()["data"]["bulkOperationRunQuery"]
    assert first["userErrors"] == [] and first["bulkOperation"]["id"]
    second = graphql(conn, token, RUN, "2025-10").json()["data"]["bulkOperationRunQuery"]
    assert second["bulkOperation"] is None and second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    third = graphql(conn, token, RUN, "2026-10").json()["data"]["bulkOperationRunQuery"]
    assert third["userErrors"] == []  # up to 5 from 2026-01


# ---------------------------------------------------------------------------- bulk operations at any size
POLL = "query poll($id: ID!) { bulkOperation(id: $id) { id status objectCount rootObjectCount url partialDataUrl } }"


def old_jsonl(admin, op) -> tuple[bytes, int, int]:
    """The operation's file as the emulator built it before (every line in memory, in the poll): the oracle
    for the file now written in the background. (bytes, lines, root records)"""
    params = search_params(list(op.bounds.items()))
    listing = admin.shop.listings[op.root]
    if op.root == "orders":
        params["status"] = "any"
    q = listing.query("id asc", params, op.clock)
    lines, roots, fence = [], 0, None
    while True:
        texts, page = listing.fetch(q, op.clock, 1000, fence)
        for text in texts:
            rec = json.loads(text)
            if op.root == "customers":
                lines.append(json.dumps(customer_line(rec), separators=(",", ":")))
                roots += 1
                continue
            if "read_all_orders" not in op.scopes and parse_ts(rec["created_at"]) < op.clock - OLD_ORDERS:
                continue
            order, items = order_lines(rec)
            parent = json.dumps(order, separators=(",", ":"))
            children = [json.dumps(i, separators=(",", ":")) for i in items]
            lines += [*children, parent] if rec["id"] % 2 else [parent, *children]
            roots += 1
        if page.next_fence is None:
            return (("\n".join(lines) + "\n").encode() if lines else b""), len(lines), roots
        fence = page.next_fence


def run_bulk(conn: dict, token: str, root: str) -> str:
    query = RUN.replace("orders", root)
    body = graphql(conn, token, query).json()["data"]["bulkOperationRunQuery"]
    assert body["userErrors"] == []
    return body["bulkOperation"]["id"]


def poll(conn: dict, token: str, op_id: str) -> tuple[dict, float]:
    url = f"{conn['host']}/admin/api/2026-10/graphql.json"
    started = time.monotonic()
    r = requests.post(
        url,
        json={"query": POLL, "variables": {"id": op_id}},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )
    return r.json()["data"]["bulkOperation"], time.monotonic() - started


def poll_until_done(conn: dict, token: str, op_id: str) -> dict:
    for _ in range(200):
        node, _ = poll(conn, token, op_id)
        if node["status"] not in ("CREATED", "RUNNING"):
            return node
        time.sleep(0.05)
    raise AssertionError(f"{op_id} still {node['status']}")


@pytest.mark.parametrize("root", ["orders", "customers"])
def test_a_poll_answers_at_once_while_the_bulk_file_is_written_and_the_download_is_the_same_file(tiny, root):
    with Sandbox(tiny, rate_limits=False) as box:
        conn = json.loads(box.connections()["shopify_default"])
        admin = box.vendors["shopify"].admin
        admin.bulk_page, admin.bulk_gate = 7, threading.Semaphore(0)  # the writer waits before each page
        token = client_token(conn["host"], conn["login"], conn["password"])
        op_id = run_bulk(conn, token, root)
        assert poll(conn, token, op_id)[0]["status"] == "RUNNING"
        admin.bulk_gate.release()  # one page written, the rest held back
        for _ in range(100):
            node, seconds = poll(conn, token, op_id)
            if int(node["objectCount"]):
                break
            time.sleep(0.02)
        # Shopify's shape: the file is being written, the poll says so at once, with its progress
        assert node["status"] == "RUNNING" and node["url"] is None and seconds < 2.0
        assert 0 < int(node["rootObjectCount"]) <= 7
        admin.bulk_gate.release(1_000_000)
        done = poll_until_done(conn, token, op_id)
        want, lines, roots = old_jsonl(admin, admin.ops[op_id])
        assert done["status"] == "COMPLETED" and (int(done["objectCount"]), int(done["rootObjectCount"])) == (
            lines,
            roots,
        )
        assert lines > 7 and roots > 7  # more than one page
        r = requests.get(done["url"], timeout=30)
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(want) and r.content == want
        files = list(admin.workdir.iterdir())
        assert [f.read_bytes() for f in files] == [want]
    assert not files[0].parent.exists()  # the emulator removes its bulk files when it stops


def test_a_failed_operation_offers_the_first_half_of_its_lines_and_a_truncated_download_stays_short(tiny):
    with Sandbox(tiny, rate_limits=False) as box:
        conn = json.loads(box.connections()["shopify_default"])
        admin = box.vendors["shopify"].admin
        admin.bulk_faults.append("failed")
        token = client_token(conn["host"], conn["login"], conn["password"])
        op_id = run_bulk(conn, token, "orders")
        poll(conn, token, op_id)
        node = poll_until_done(conn, token, op_id)
        want, lines, _ = old_jsonl(admin, admin.ops[op_id])
        half = b"".join(want.splitlines(keepends=True)[: lines // 2])
        assert node["status"] == "FAILED" and node["url"] is None and int(node["objectCount"]) == lines
        box.inject("shopify", "truncated")  # the whole length promised, half of it sent
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(node["partialDataUrl"], timeout=30).content  # noqa: B018 - reading is what fails
        assert requests.get(node["partialDataUrl"], timeout=30).content == half
