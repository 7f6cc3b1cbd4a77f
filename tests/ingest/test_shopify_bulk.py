"""Shopify orders and customers through GraphQL bulk operations against the sandbox's store (vendor-apis.md
§3a): a full extract lands every record once with its children under it, whatever faults the operation meets.

Real HTTP to the emulator, the real extract run writing real landing files; the canonical tables are the truth.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from ingest.connections import get_connection
from ingest.extract import Window, extract_endpoint
from ingest.shopify import ShopifyClient
from ingest.shopify.graphql import RUN, BulkOperationEnded, bulk_query
from ingest.sql import literal
from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import bulk_query_refusal
from sandbox.tables import read_table
from settings import endpoint_landing_dir
from tests.ingest.sandbox_truth import visible


@pytest.fixture
def shop(tiny, data_dir, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with Sandbox(tiny, faults="none", rate_limits=True) as box:
        monkeypatch.setenv("AIRFLOW_CONN_SHOPIFY_DEFAULT", box.connections()["shopify_default"])
        yield box
        admin = box.vendors["shopify"].admin
        assert admin.tokens and all(t not in caplog.text for t in [admin.client_secret, *admin.tokens])


def extract(entity: str, run_id: str = "r1") -> tuple[ShopifyClient, dict, dict[str, dict]]:
    """One extract run of the bulk client: (client, manifest, landed records by id)."""
    client = ShopifyClient(get_connection("shopify_default"))
    ep = next(e for e in client.endpoints if e.entity == entity)
    manifest = extract_endpoint(client, ep, Window(full_refresh=True), run_id)
    con = duckdb.connect()
    folder = endpoint_landing_dir("shopify", entity)
    files = [str(folder / f) for f in manifest["files"]]
    rows = (
        con.execute(f"SELECT id, record FROM read_parquet([{', '.join(literal(f) for f in files)}])").fetchall()
        if files
        else []
    )
    con.close()
    assert len(rows) == len({i for i, _ in rows}), "an id landed twice"
    return client, manifest, {i: json.loads(r) for i, r in rows}


def assert_complete_orders(tiny, clock: int, landed: dict[str, dict]) -> None:
    want = visible(tiny, "shopify_orders", clock)
    assert landed.keys() == want.keys(), f"{len(want.keys() - landed.keys())} lost, {len(landed.keys() - want)} extra"
    lines = Counter(str(o) for o in read_table(tiny, "shopify_line_items").column("order_id").to_pylist())
    got = {i: len(o["lineItems"]) for i, o in landed.items()}
    assert got == {i: lines.get(i, 0) for i in want}  # every line item under its order, none elsewhere
    assert all("__parentId" not in li for o in landed.values() for li in o["lineItems"])
    # refunds are a list field, whose connections a bulk query cannot select: the ordinary queries filled them in
    refunds = [
        r for r in read_table(tiny, "shopify_refunds").to_pylist() if r["created"] <= want.get(str(r["order_id"]), -1)
    ]
    cents = Counter()
    for t in read_table(tiny, "shopify_refund_transactions").to_pylist():
        cents[str(t["refund_id"])] += t["amount_cents"]
    goods = Counter(str(li["refund_id"]) for li in read_table(tiny, "shopify_refund_line_items").to_pylist())
    got = {
        r["legacyResourceId"]: (
            sum(int(100 * Decimal(t["amountSet"]["shopMoney"]["amount"])) for t in r["transactions"]["nodes"]),
            len(r["refundLineItems"]["nodes"]),
        )
        for o in landed.values()
        for r in o["refunds"]
    }
    assert refunds and got == {str(r["id"]): (cents[str(r["id"])], goods[str(r["id"])]) for r in refunds}


def test_a_full_bulk_extract_lands_every_order_and_customer_once_with_its_lines(shop, tiny):
    client, manifest, orders = extract("orders")
    assert manifest["status"] == "succeeded" and manifest["rejected"] == 0
    assert_complete_orders(tiny, shop.clock_us, orders)
    _, _, customers = extract("customers", "r2")
    assert customers.keys() == visible(tiny, "shopify_customers", shop.clock_us).keys()
    assert client.bulk.runs == 1 and client.graphql.throttled == 0  # paced by the cost bucket: never THROTTLED
    # the file really had children before their parents, which the reassembly put right
    body = next(iter(shop.vendors["shopify"].admin.files.values())).decode().splitlines()
    seen, early = set(), 0
    for line in map(json.loads, body):
        early += line.get("__parentId") is not None and line["__parentId"] not in seen
        seen.add(line["id"])
    assert early > 0


@pytest.mark.parametrize("fault", ["failed", "expired"])
def test_a_failed_operation_or_an_expired_url_runs_the_operation_again_and_lands_complete_data(shop, tiny, fault):
    shop.vendors["shopify"].admin.bulk_faults.append(fault)
    client, manifest, orders = extract("orders")
    assert client.bulk.runs == 2 and manifest["status"] == "succeeded"
    assert_complete_orders(tiny, shop.clock_us, orders)  # the partial data of the failed run was never landed


def test_throttled_polls_wait_for_the_bucket_and_land_complete_data(shop, tiny):
    shop.vendors["shopify"].admin.bulk_faults.append("throttled")
    client, manifest, orders = extract("orders")
    assert client.graphql.throttled == 3 and manifest["throttled"] == 3
    assert_complete_orders(tiny, shop.clock_us, orders)


def test_a_cancelled_operation_is_reported_and_lands_nothing(shop):
    shop.vendors["shopify"].admin.bulk_faults.append("canceled")
    client = ShopifyClient(get_connection("shopify_default"))
    ep = next(e for e in client.endpoints if e.entity == "orders")
    manifest = extract_endpoint(client, ep, Window(full_refresh=True), "r1")
    assert manifest["status"] == "failed" and manifest["records"] == 0 and not manifest["files"]
    assert manifest["error"].startswith(BulkOperationEnded.__name__) and "ended CANCELED" in manifest["error"]


def test_an_updated_at_window_selects_what_changed_in_it(shop, tiny):
    """The same watermarks and lookback as before: a window reads only the versions updated in it."""
    client = ShopifyClient(get_connection("shopify_default"))
    ep = next(e for e in client.endpoints if e.entity == "orders")
    clock = shop.clock_us
    want = {i for i, v in visible(tiny, "shopify_orders", clock).items() if v >= clock - 10 * 86_400_000_000}
    since = datetime.fromtimestamp((clock - 10 * 86_400_000_000) / 1e6, UTC)
    got = {json.loads(bytes(r))["legacyResourceId"] for p in client.pages(ep, since, None) for r in p.records}
    assert got == want and 0 < len(got) < len(visible(tiny, "shopify_orders", clock))


def test_the_bulk_query_selects_no_connection_inside_a_list_which_shopify_refuses(shop):
    """Shopify's bulk executor refuses a connection inside a list field (an order's `refunds` is a list): the
    emulator refuses it as Shopify does, and the client's bulk query never asks for one."""
    client = ShopifyClient(get_connection("shopify_default"))
    nested = "{ orders { edges { node { id refunds { id transactions(first: 5) { nodes { id } } } } } } }"
    answer = client.graphql.query(RUN, {"query": nested})["bulkOperationRunQuery"]
    assert answer["bulkOperation"] is None
    assert answer["userErrors"][0]["message"].startswith("Queries that contain a connection field within a list")
    for root in ("orders", "customers"):
        assert bulk_query_refusal(bulk_query(root, None, None)) is None
