"""The Shopify bulk file's reassembly (`ingest.shopify.graphql.reassemble`) under a DuckDB memory cap several
times smaller than the file: every order comes out once (those without refunds first, each part in gid order),
its line items under it in id order and its refunds from the details, byte for byte what a cap larger than the
file gives.

A real bulk-shaped JSONL file (children before and after their parents, ids of different lengths so string
order is not numeric order) and real DuckDB; at `large` the old single query ran out of its cap (DECISIONLOG.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import msgspec
import pytest

from ingest.http import FatalHTTPError
from ingest.shopify.graphql import reassemble, reassembly_connection, size_bytes
from settings import duckdb_memory_limit, shopify_bulk_memory_limit

ORDERS = 270_000
PAD = "x" * 2000  # order lines of a few KB: a file three times the cap in few lines
SMALL_CAP = "192MB"  # near the least the JSON reader itself needs (two threads)


def write_bulk(path: Path, orders: int) -> None:
    with path.open("w") as f:
        for n in range(orders):
            order = f"gid://shopify/Order/{n + 1}"
            items = [
                {"id": f"gid://shopify/LineItem/{3 * (orders - n) - k}", "sku": f"S{k}", "quantity": k + 1,
                 "__parentId": order}
                for k in range(n % 3 + 1)
            ]  # fmt: skip
            refunds = (
                [{"id": f"gid://shopify/Refund/{n + 1}", "createdAt": "2026-01-02T03:04:05Z"}] if n % 7 == 0 else []
            )
            line = json.dumps({"id": order, "name": f"#{n + 1}", "tags": PAD, "refunds": refunds})
            kids = [json.dumps(i) for i in items]
            f.write("\n".join([*kids, line] if n % 2 else [line, *kids]) + "\n")


def details(ids: list[str], out: Path, stop=None) -> None:
    with out.open("w") as f:
        for gid in ids:
            refund = {"id": gid.replace("Order", "Refund"), "transactions": {"nodes": [{"kind": "REFUND"}]}}
            f.write(json.dumps({"id": gid, "refunds": [refund]}) + "\n")


def run(path: Path, spill: Path) -> list[bytes]:
    spill.mkdir()
    children = {"LineItem": "lineItems"}
    return [bytes(r) for batch in reassemble(path, children, "shopify_default", spill, details) for r in batch]


@pytest.fixture(scope="module")
def bulk(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bulk") / "orders.jsonl"
    write_bulk(path, ORDERS)
    return path


def test_a_file_several_times_the_cap_reassembles_to_what_a_large_cap_gives(bulk, tmp_path, monkeypatch):
    assert bulk.stat().st_size > 3 * 192 * 2**20
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "4GB")
    want = run(bulk, tmp_path / "large")
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", SMALL_CAP)
    got = run(bulk, tmp_path / "small")
    assert len(got) == len(want) == ORDERS
    assert got == want

    records = [msgspec.json.decode(r) for r in got]
    # every order once: those without refunds first (landing while the details are fetched), then those with them
    refunded = [bool(r["refunds"]) for r in records]
    assert refunded == sorted(refunded)
    plain, with_refunds = records[: refunded.index(True)], records[refunded.index(True) :]
    assert len(with_refunds) == len(range(0, ORDERS, 7))
    assert [r["id"] for r in plain] == sorted(r["id"] for r in plain)
    assert [r["id"] for r in with_refunds] == sorted(r["id"] for r in with_refunds)
    assert sorted(r["id"] for r in records) == sorted(f"gid://shopify/Order/{n + 1}" for n in range(ORDERS))
    for r in records[:1000] + with_refunds[:1000]:
        n = int(r["id"].rsplit("/", 1)[1]) - 1
        ids = [int(i["id"].rsplit("/", 1)[1]) for i in r["lineItems"]]
        assert ids == sorted(3 * (ORDERS - n) - k for k in range(n % 3 + 1))
        assert all("__parentId" not in i for i in r["lineItems"])
        refund = {"id": r["id"].replace("Order", "Refund"), "transactions": {"nodes": [{"kind": "REFUND"}]}}
        assert r["refunds"] == ([refund] if n % 7 == 0 else [])


def cap_of(con: duckdb.DuckDBPyConnection) -> str:
    """As DuckDB shows it ('1.8 GiB')."""
    try:
        (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
        return limit
    finally:
        con.close()


def shown(cap: str) -> str:
    return cap_of(duckdb.connect(config={"memory_limit": cap}))


def test_the_reassembly_takes_a_cap_of_its_own_never_above_the_warehouses(tmp_path, monkeypatch):
    """The extract process holds the landing engine and three other vendors beside the reassembly: at `large` the
    warehouse's whole cap for it took the process past 4 GiB (DECISIONLOG.md)."""
    monkeypatch.delenv("SHOPIFY_BULK_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("DUCKDB_MEMORY_LIMIT", raising=False)
    default = cap_of(reassembly_connection(tmp_path))
    assert default == shown(shopify_bulk_memory_limit())
    assert size_bytes(default) < size_bytes(shown(duckdb_memory_limit()))
    monkeypatch.setenv("SHOPIFY_BULK_MEMORY_LIMIT", "700MB")
    assert cap_of(reassembly_connection(tmp_path)) == shown("700MB")
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "500MB")  # a warehouse cap below it wins
    assert cap_of(reassembly_connection(tmp_path)) == shown("500MB")


def test_memory_sizes_read_as_duckdb_reads_them():
    assert [size_bytes(s) for s in ("3GB", "2.7 GiB", "512mb", "192 MB", "1GiB")] == [
        3 * 10**9, int(2.7 * 2**30), 512 * 10**6, 192 * 10**6, 2**30
    ]  # fmt: skip
    with pytest.raises(ValueError, match="memory size"):
        size_bytes("80%")


def reassembled(path: Path, spill: Path, fetch) -> list[bytes]:
    spill.mkdir()
    return [
        bytes(r)
        for batch in reassemble(path, {"LineItem": "lineItems"}, "shopify_default", spill, fetch)
        for r in batch
    ]


@pytest.fixture
def small_bulk(tmp_path) -> Path:
    path = tmp_path / "orders.jsonl"
    write_bulk(path, 3000)
    return path


def test_refund_details_that_fail_fail_the_reassembly(small_bulk, tmp_path):
    """The details are fetched beside the records without refunds: their error still fails the window."""

    def gone(ids: list[str], out: Path, stop) -> None:
        raise FatalHTTPError(
            "shopify_default: order gid://shopify/Order/8 had refunds in the bulk file but is now gone"
        )

    with pytest.raises(FatalHTTPError, match="is now gone"):
        reassembled(small_bulk, tmp_path / "spill", gone)


def test_refund_details_missing_an_order_fail_rather_than_drop_it(small_bulk, tmp_path):
    def short(ids: list[str], out: Path, stop) -> None:
        details(ids[1:], out)

    with pytest.raises(FatalHTTPError, match="refund details came for 428 of the 429 orders"):
        reassembled(small_bulk, tmp_path / "spill", short)


def test_an_abandoned_reassembly_stops_fetching_details(small_bulk, tmp_path):
    """A landing that fails midway (the generator closed) stops the details between two queries."""
    fetched: list[str] = []

    def slow(ids: list[str], out: Path, stop) -> None:
        for gid in ids:
            if stop.is_set():
                return
            time.sleep(0.01)  # a query's round trip
            fetched.append(gid)

    (spill := tmp_path / "spill").mkdir()
    records = reassemble(small_bulk, {"LineItem": "lineItems"}, "shopify_default", spill, slow)
    assert len(next(records)) == 2000  # the first batch, of orders without refunds, while the details come
    records.close()  # returns once the fetch has stopped
    assert len(fetched) < 429
