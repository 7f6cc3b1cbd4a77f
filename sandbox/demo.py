"""`make demo`: the sandbox company behind its emulators, through the pipeline built so far.

Starts the four emulators, extracts every vendor in parallel into landing files, loads them into
the warehouse (one writer) with the finance inputs, runs `dbt build` (models, unit and data tests),
then prints the monthly CS P&L and the campaign summary from the marts and checks every mart row
against the sandbox's answer key. Idempotent: a second run extracts from the watermarks, changes
nothing it already has, and rebuilds the same marts.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from sandbox.calendar import from_us
from sandbox.emulators.server import Sandbox


def step(msg: str) -> float:
    print(f"==> {msg}", flush=True)
    return time.monotonic()


def run_demo(sim: Path) -> None:
    from ingest.paths import warehouse_path
    from pipeline.dbt import run_dbt
    from pipeline.publish import publish
    from sandbox.answer_key import AnswerKey
    from sandbox.pull import pull
    from sandbox.verify import compare

    with Sandbox(sim, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        step("sandbox emulators on loopback")
        for vendor, url in box.urls.items():
            print(f"    {vendor:<10} {url}")
        started = step("extracting every vendor in parallel, then loading (one writer)")
        result = pull(box, sim)
        clock = box.clock_us
    for vendor, manifests in result["extracted"].items():
        for m in manifests:
            print(
                f"    {vendor}.{m['entity']:<22} {m['records']:>9,} records {m['pages']:>6,} pages "
                f"{m['rejected']:>4} rejected"
            )
    finance = result["finance"]
    print(f"    raw_finance: {finance['status']}; extract + load took {time.monotonic() - started:.1f} s")

    as_of = f"{from_us(clock):%Y-%m-%d %H:%M} UTC"
    started = step(f"dbt build (staging, intermediate, marts, unit and data tests) as of {as_of}")
    out = run_dbt("build", as_of=from_us(clock).isoformat(), quiet=True)
    print("    " + next((line.split("  ", 1)[-1] for line in out.splitlines() if "Done. PASS=" in line), "done"))
    print(f"    dbt build took {time.monotonic() - started:.1f} s")

    warehouse = warehouse_path()
    show_marts(warehouse)
    started = step("publishing the marts for BI (DuckDB file readable by DuckDB 1.5, Parquet, HTML report)")
    published = publish(warehouse)
    print(f"    published {len(published['tables'])} marts in {time.monotonic() - started:.1f} s")
    step("checking every mart row against the sandbox's answer key")
    checked, problems = compare(warehouse, AnswerKey(sim, as_of=clock).marts())
    print(f"    {checked:,} rows compared: " + ("all equal, to the cent" if not problems else "DIFFERENCES"))
    for p in problems:
        print(f"    {p}")
    print(f"\n    warehouse: {warehouse}")
    print(f"    published (BI, read-only): {published['database']}")
    print(f"    report: {published['report']}")
    if problems:
        raise SystemExit(1)


def show_marts(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute("SELECT * EXCLUDE (rule_version) FROM marts.cs_pnl_monthly_wide ORDER BY month")
        cols = [d[0] for d in cur.description]
        wide = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        funnel = con.execute("""
            SELECT campaign, sum(contacted), sum(replied), sum(converted_orders), sum(revenue), sum(gross_margin)
            FROM marts.campaign_performance_monthly GROUP BY campaign, campaign_priority ORDER BY campaign_priority
        """).fetchall()
    finally:
        con.close()
    step("monthly CS P&L (marts.cs_pnl_monthly_wide, reporting currency)")
    print("    " + f"{'line':<26}" + "".join(f"{r['month']:>12}" for r in wide))
    for c in cols[1:]:
        cells = "".join(f"{('yes' if r[c] else 'no') if isinstance(r[c], bool) else f'{r[c]:,.2f}':>12}" for r in wide)
        print(f"    {c:<26}{cells}")
    step("campaigns over the whole period (marts.campaign_performance_monthly)")
    print(f"    {'campaign':<10}{'contacted':>11}{'replied':>10}{'converted':>11}{'revenue':>14}{'margin':>14}")
    for name, contacted, replied, converted, revenue, margin in funnel:
        print(f"    {name:<10}{contacted:>11,}{replied:>10,}{converted:>11,}{revenue:>14,.2f}{margin:>14,.2f}")
