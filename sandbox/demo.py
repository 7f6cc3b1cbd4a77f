"""`make demo`: the sandbox company behind its emulators, through the real Airflow DAGs.

Starts the four emulators, runs every DAG in-process with `dag.test()` (extract + load per vendor,
finance inputs, then transform: freshness, raw quality gate, dbt build, mart gate, publish), prints
the monthly CS P&L and the campaign summary from the marts and checks every mart row against the
sandbox's answer key. Idempotent: a second run extracts from the watermarks, changes nothing it
already has, and rebuilds the same marts.
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
    import os

    from pipeline.airflow_local import configure

    configure()  # before anything imports airflow
    os.environ["FINANCE_INPUTS_DIR"] = str(sim / "finance")
    from pipeline.publish import published_dir
    from pipeline.run import run_pipeline
    from sandbox.answer_key import AnswerKey
    from sandbox.pull import connections_of
    from sandbox.verify import compare
    from settings import warehouse_path

    with Sandbox(sim, faults="none", rate_limits=False) as box:
        step("sandbox emulators on loopback")
        for vendor, url in box.urls.items():
            print(f"    {vendor:<10} {url}")
        clock = box.clock_us
        started = step(
            "the pipeline through its Airflow DAGs (dag.test): extract + load per vendor, finance inputs, "
            "then transform (freshness, raw gate, dbt build, mart gate, publish)"
        )
        with connections_of(box):
            run_pipeline(from_us(clock), as_of=from_us(clock).isoformat())
        print(f"    pipeline took {time.monotonic() - started:.1f} s")

    warehouse = warehouse_path()
    show_marts(warehouse)
    step("checking every mart row against the sandbox's answer key")
    checked, problems = compare(warehouse, AnswerKey(sim, as_of=clock).marts())
    print(f"    {checked:,} rows compared: " + ("all equal, to the cent" if not problems else "DIFFERENCES"))
    for p in problems:
        print(f"    {p}")
    published = published_dir()
    print(f"\n    warehouse: {warehouse}")
    print(f"    published for BI (read-only): {published / 'marts.duckdb'}")
    print(f"    report: {published / 'report.html'}")
    docs = warehouse.parent / "data_docs" / "index.html"  # rendered for a failing suite only
    print(f"    data docs: {docs if docs.exists() else 'none (every check passed; a failure renders them)'}")
    if problems:
        raise SystemExit(1)


def show_marts(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(  # months as 'YYYY-MM' (the mart's are DATEs, the first day); final_on is a date or null
            "SELECT strftime(month, '%Y-%m') AS month, * EXCLUDE (month, rule_version, closed_at, final_on) "
            "FROM marts.cs_pnl_monthly_wide ORDER BY 1"
        )
        cols = [d[0] for d in cur.description]
        wide = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        incomplete = [
            m
            for (m,) in con.execute("""
                SELECT strftime(month, '%Y-%m') FROM marts.cs_pnl_monthly_wide WHERE NOT source_history_complete
                UNION SELECT strftime(renewal_month, '%Y-%m') FROM marts.winback_cohorts
                WHERE NOT source_history_complete ORDER BY 1
            """).fetchall()
        ]
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
    if incomplete:  # §5 Source history: short months must not pass for final ones
        print(
            f"    WARNING: incomplete source history for {', '.join(incomplete)}: Recharge no longer serves those"
            " months' paid renewals and their Recharge orders are missing; renewals, the win-back cohort and"
            " win-back revenue there are short (source_history_complete = false; such a month cannot be closed)"
        )
    step("campaigns over the whole period (marts.campaign_performance_monthly)")
    print(f"    {'campaign':<10}{'contacted':>11}{'replied':>10}{'converted':>11}{'revenue':>14}{'margin':>14}")
    for name, contacted, replied, converted, revenue, margin in funnel:
        print(f"    {name:<10}{contacted:>11,}{replied:>10,}{converted:>11,}{revenue:>14,.2f}{margin:>14,.2f}")
