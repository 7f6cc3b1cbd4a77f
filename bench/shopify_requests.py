"""Shopify orders, requests and wall time: a full backfill by REST paging against bulk operations, and a daily
window by bulk operations against paged ordinary GraphQL queries.

At a store's real limit (2 REST requests/s, or 100 GraphQL cost points/s, on a standard plan) the request count
and the cost decide the wall time; a bulk operation runs server-side, outside the rate limit. Counted by the
emulator (its stats), with its rate limits off so the count, not the pacing, is measured:

    .venv/bin/python -m bench.shopify_requests --scale demo --seed 1

The REST side pages `orders.json` by its Link header here (the pipeline no longer speaks REST); the paged side
is `orders(first:, after:, query:)` with the line items and refunds a daily run needs, in one query per page.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from ingest.connections import Connection, get_connection
from ingest.shopify import ENDPOINTS, ShopifyClient
from ingest.shopify.graphql import MONEY, REFUND_FIELDS, search
from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import client_token
from sandbox.simulate import generate

ENDPOINT = next(e for e in ENDPOINTS if e.entity == "orders")
PAGE = 25  # orders per ordinary query: 2 + 25 x (3 + 30 line items) = 827 requested points, under 1,000
PAGED = f"""query page($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: ID) {{ pageInfo {{ hasNextPage endCursor }}
    nodes {{ id legacyResourceId name number email createdAt updatedAt cancelledAt test currencyCode tags
      subtotalPriceSet {{ {MONEY} }} discountCodes customer {{ id legacyResourceId }}
      lineItems(first: 30) {{ nodes {{ id sku quantity }} }}
      refunds {{ {REFUND_FIELDS} transactions(first: 100) {{ nodes {{ id kind status amountSet {{ {MONEY} }} }} }}
        refundLineItems(first: 100) {{ nodes {{ lineItem {{ id }} quantity subtotalSet {{ {MONEY} }} }} }}
        orderAdjustments(first: 50) {{ nodes {{ id reason amountSet {{ {MONEY} }} }} }} }} }} }} }}"""


def rest_orders(conn: Connection, since: datetime | None) -> tuple[int, float]:
    """Every order by REST paging (250 a page, Link header), as the pipeline did before 2026."""
    s = requests.Session()
    s.headers["X-Shopify-Access-Token"] = client_token(conn.base_url, conn.login, conn.password)
    params: dict | None = {"status": "any", "limit": 250}
    if since is not None:
        params["updated_at_min"] = since.isoformat()
    url, orders = f"{conn.base_url}/admin/api/2026-10/orders.json", 0
    while url:
        r = s.get(url, params=params, timeout=60)
        r.raise_for_status()
        orders += len(r.json()["orders"])
        url, params = r.links.get("next", {}).get("url"), None
    return orders, 0.0


def bulk_orders(since: datetime | None) -> tuple[int, float]:
    client = ShopifyClient(get_connection("shopify_default"))
    orders = sum(len(page.records) for page in client.pages(ENDPOINT, since, None))
    return orders, client.graphql.spent


def paged_orders(since: datetime | None) -> tuple[int, float]:
    client = ShopifyClient(get_connection("shopify_default"))
    after, orders = None, 0
    while True:
        variables = {"first": PAGE, "after": after, "query": search(since, None)}
        page = client.graphql.query(PAGED, variables, cost=2 + PAGE * 33)["orders"]
        orders += len(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return orders, client.graphql.spent
        after = page["pageInfo"]["endCursor"]


def measure(sim: Path) -> dict[str, dict]:
    out = {}
    with Sandbox(sim, rate_limits=False) as box:
        conn = box.connections()["shopify_default"]
        os.environ["AIRFLOW_CONN_SHOPIFY_DEFAULT"] = conn
        now = datetime.fromtimestamp(box.clock_us / 1e6, UTC)
        day, run_window = now - timedelta(days=1), now - timedelta(days=1) - ENDPOINT.lookback
        runs: dict[str, Callable[[], tuple[int, float]]] = {
            "full backfill, REST paging": lambda: rest_orders(get_connection("shopify_default"), None),
            "full backfill, bulk": lambda: bulk_orders(None),
            "one day, bulk": lambda: bulk_orders(day),
            "one day, paged queries": lambda: paged_orders(day),
            "a daily run's window (1 day + 3-day lookback), bulk": lambda: bulk_orders(run_window),
            "a daily run's window (1 day + 3-day lookback), paged queries": lambda: paged_orders(run_window),
        }
        for name, run in runs.items():
            box.reset_stats()
            started = time.monotonic()
            orders, points = run()
            stats = box.stats()["shopify"]
            out[name] = {
                "orders": orders,
                "requests": stats["requests"],
                "per_1000_orders": round(1000 * stats["requests"] / max(orders, 1), 2),
                "paths": stats["paths"],
                "seconds": round(time.monotonic() - started, 2),
                "cost_points": points,
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="demo", choices=["tiny", "demo"])
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATA_DIR"] = tmp  # the bulk file is written beside landing
        sim = Path(tmp) / f"{a.scale}-{a.seed}"
        generate(a.scale, a.seed, sim)
        for name, m in measure(sim).items():
            print(
                f"{name}: {m['orders']} orders, {m['requests']} requests, {m['per_1000_orders']} per 1,000 orders "
                f"({m['seconds']} s, emulator rate limits off; {m['cost_points']:g} GraphQL cost points) {m['paths']}"
            )


if __name__ == "__main__":
    main()
