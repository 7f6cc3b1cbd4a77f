"""Requests per 1,000 orders for a full backfill of Shopify orders: REST paging against one bulk operation.

At a store's real limit (2 REST requests/s on a standard plan) the request count decides the wall time of a
backfill; a bulk operation runs server-side, outside the rate limit. Counted by the emulator (its stats), with
its rate limits off so the count, not the pacing, is measured:

    .venv/bin/python -m bench.shopify_requests --scale demo --seed 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ingest.connections import get_connection
from ingest.shopify import ShopifyBulkClient, ShopifyClient
from sandbox.emulators.server import Sandbox
from sandbox.simulate import generate


def measure(sim: Path) -> dict[str, dict]:
    out = {}
    with Sandbox(sim, rate_limits=False) as box:
        os.environ["AIRFLOW_CONN_SHOPIFY_DEFAULT"] = box.connections()["shopify_default"]
        for name, cls in (("rest", ShopifyClient), ("bulk", ShopifyBulkClient)):
            box.reset_stats()
            client = cls(get_connection("shopify_default"))
            ep = next(e for e in client.endpoints if e.entity == "orders")
            started, orders = time.monotonic(), 0
            for page in client.pages(ep, None, None):
                orders += len(page.records)
            stats = box.stats()["shopify"]
            out[name] = {
                "orders": orders,
                "requests": stats["requests"],
                "per_1000_orders": round(1000 * stats["requests"] / max(orders, 1), 2),
                "paths": stats["paths"],
                "seconds": round(time.monotonic() - started, 1),
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
                f"({m['seconds']} s, emulator rate limits off) {m['paths']}"
            )


if __name__ == "__main__":
    main()
