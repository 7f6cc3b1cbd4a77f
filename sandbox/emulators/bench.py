"""Throughput of the emulators: a plain `requests` client pages through a few big lists at max page size.

    python -m sandbox.emulators.bench /tmp/em/demo-1

The Sandbox runs in this process (rate limits off, no faults); the client runs in a separate process,
so the figures are what an extractor would see. Prints records/s per feed.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path

import requests

from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import client_token


def _page_through(conns: dict[str, str], feed: str) -> tuple[int, float]:
    """Fetch every page of one feed; returns (records, seconds)."""
    c = {k: json.loads(v) for k, v in conns.items()}
    s = requests.Session()
    n, start = 0, time.perf_counter()
    if feed == "shopify orders":
        shop = c["shopify_default"]
        s.headers["X-Shopify-Access-Token"] = client_token(shop["host"], shop["login"], shop["password"])
        url = f"{shop['host']}/admin/api/2026-10/orders.json?status=any&limit=250"
        while url:
            r = s.get(url, timeout=60)
            r.raise_for_status()
            n += len(r.json()["orders"])
            url = r.links.get("next", {}).get("url")
    elif feed.startswith("recharge"):
        host = c["recharge_default"]["host"]
        s.headers.update(
            {"X-Recharge-Access-Token": c["recharge_default"]["password"], "X-Recharge-Version": "2021-11"}
        )
        name = feed.split()[1]
        params: dict = {"limit": 250, "sort_by": "updated_at-asc"}
        while True:
            r = s.get(f"{host}/{name}", params=params, timeout=60)
            r.raise_for_status()
            body = r.json()
            n += len(body[name])
            if not body["next_cursor"]:
                break
            params = {"limit": 250, "cursor": body["next_cursor"]}
    elif feed == "gorgias tickets":
        g = c["gorgias_default"]
        s.auth = (g["login"], g["password"])
        params = {"limit": 100, "order_by": "updated_datetime:desc"}
        while True:
            r = s.get(f"{g['host']}/api/tickets", params=params, timeout=60)
            r.raise_for_status()
            body = r.json()
            n += len(body["data"])
            if not body["meta"]["next_cursor"]:
                break
            params = {**params, "cursor": body["meta"]["next_cursor"]}
    elif feed == "easypost shipments":
        e = c["easypost_default"]
        s.auth = (e["password"], "")
        params = {"page_size": 100}
        while True:
            r = s.get(f"{e['host']}/v2/shipments", params=params, timeout=60)
            r.raise_for_status()
            body = r.json()
            n += len(body["shipments"])
            if not body["has_more"]:
                break
            params = {"page_size": 100, "before_id": body["shipments"][-1]["id"]}
    return n, time.perf_counter() - start


FEEDS = ("shopify orders", "recharge charges", "recharge orders", "gorgias tickets", "easypost shipments")


def measure(folder: Path | str, feeds: tuple[str, ...] = FEEDS) -> dict[str, float]:
    """records/s per feed, client in a separate process."""
    out = {}
    with Sandbox(folder, rate_limits=False) as sb, multiprocessing.get_context("spawn").Pool(1) as pool:
        for feed in feeds:
            n, seconds = pool.apply(_page_through, (sb.connections(), feed))
            out[feed] = n / seconds
            print(f"{feed:20s} {n:>9,d} records in {seconds:6.2f} s = {n / seconds:>9,.0f} records/s", flush=True)
    return out


if __name__ == "__main__":
    measure(sys.argv[1])
