"""`make demo`: the sandbox company behind its emulators, pulled through the pipeline built so far.

Starts the four emulators, extracts every vendor in parallel into landing files, loads them into
the warehouse (one writer), loads the finance inputs, then prints what arrived next to the
answer key's monthly CS P&L. Idempotent: a second run extracts from the watermarks and changes
nothing it already has.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox.emulators.server import Sandbox


def step(msg: str) -> float:
    print(f"==> {msg}", flush=True)
    return time.monotonic()


def run_demo(sim: Path) -> None:
    from ingest.extract import extract_vendor
    from ingest.finance import load_finance_inputs
    from ingest.load import connect, load_vendor
    from ingest.paths import warehouse_path
    from ingest.vendors import CLIENTS
    from sandbox.answer_key import AnswerKey

    with Sandbox(sim, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        step("sandbox emulators on loopback")
        for conn_id, value in box.connections().items():
            # The emulators run without rate limits here, so the account's connection says so too.
            conn = json.loads(value)
            conn.setdefault("extra", {})["rate_limit_per_second"] = 0
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
            print(f"    {conn_id:<18} {box.urls[conn_id.removesuffix('_default')]}")
        started = step(f"extracting {', '.join(CLIENTS)} in parallel")
        with ThreadPoolExecutor(len(CLIENTS)) as pool:
            results = dict(zip(CLIENTS, pool.map(extract_vendor, CLIENTS), strict=True))
        for vendor, manifests in results.items():
            for m in manifests:
                print(
                    f"    {vendor}.{m['entity']:<22} {m['records']:>9,} records {m['pages']:>6,} pages "
                    f"{m['rejected']:>4} rejected"
                )
        print(f"    extract took {time.monotonic() - started:.1f} s")
    started = step(f"loading into {warehouse_path()}")
    con = connect()
    try:
        for vendor in CLIENTS:
            for r in load_vendor(vendor, con):
                if r["manifests"]:
                    print(f"    raw_{r['endpoint']:<32} {r['rows_merged']:>9,} rows merged")
        finance = load_finance_inputs(con, sim / "finance")
        rows = ", ".join(f"{name.removesuffix('.csv')} {f['rows']}" for name, f in finance["files"].items())
        print(f"    raw_finance: {finance['status']} ({rows} rows)")
        counts = con.execute("""SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables()
                                WHERE schema_name LIKE 'raw_%' ORDER BY 1""").fetchall()
    finally:
        con.close()
    print(
        f"    load took {time.monotonic() - started:.1f} s; raw layer: {sum(n for _, n in counts):,} rows "
        f"in {len(counts)} tables"
    )
    step("expected monthly CS P&L (the sandbox's answer key; the dbt marts will be checked against it)")
    wide = AnswerKey(sim).cs_pnl_wide()
    cols = [c for c in wide[0] if c != "month"]
    print("    " + f"{'line':<26}" + "".join(f"{r['month']:>12}" for r in wide))
    for c in cols:
        cells = "".join(f"{('yes' if r[c] else 'no') if isinstance(r[c], bool) else f'{r[c]:,.2f}':>12}" for r in wide)
        print(f"    {c:<26}{cells}")
