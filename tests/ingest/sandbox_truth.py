"""The sandbox's canonical tables as the truth for the raw layer: every record the vendor shows at a
clock is in raw exactly once, at the version it shows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from sandbox.tables import read_table

# raw_<vendor>.<entity> -> canonical table of the simulation
CANONICAL = {
    "gorgias.tickets": "gorgias_tickets",
    "gorgias.messages": "gorgias_messages",
    "gorgias.customers": "gorgias_customers",
    "gorgias.users": "gorgias_users",
    "gorgias.tags": "gorgias_tags",
    "gorgias.satisfaction_surveys": "gorgias_surveys",
    "recharge.customers": "recharge_customers",
    "recharge.subscriptions": "recharge_subscriptions",
    "recharge.charges": "recharge_charges",
    "recharge.orders": "recharge_orders",
    "shopify.orders": "shopify_orders",
    "shopify.customers": "shopify_customers",
    "easypost.shipments": "easypost_shipments",
    "easypost.claims": "easypost_claims",
}


def visible(sim: Path, table: str, clock: int) -> dict[str, int]:
    """id -> v_from of the version the vendor shows at `clock`."""
    t = read_table(sim, table).select(["id", "v_from"]).to_pylist()
    out: dict[str, int] = {}
    for r in t:
        if r["v_from"] <= clock and r["v_from"] >= out.get(str(r["id"]), -1):
            out[str(r["id"])] = r["v_from"]
    return out


def raw_versions(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    rows = con.execute(f"SELECT id, epoch_us(updated_at), count(*) OVER (PARTITION BY id) FROM raw_{name}").fetchall()
    assert all(n == 1 for _, _, n in rows), f"raw_{name} has duplicate ids"
    return {i: v for i, v, _ in rows}


def assert_raw_equals_sandbox(sim: Path, clock: int, warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    checked = 0
    try:
        for name, table in CANONICAL.items():
            want, got = visible(sim, table, clock), raw_versions(con, name)
            assert got.keys() == want.keys(), (
                f"{name}: {len(want.keys() - got.keys())} missing, {len(got.keys() - want.keys())} unexpected"
            )
            if name != "gorgias.messages":  # a message's version time is its latest of created/sent/failed
                stale = [i for i in want if got[i] != want[i]]
                assert not stale, f"{name}: {len(stale)} records at an old version, e.g. {stale[:3]}"
            checked += len(want)
    finally:
        con.close()
    return checked
