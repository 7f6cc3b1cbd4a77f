"""The closing summary of `make demo` and `make run`, in one place: what is published (the monthly CS P&L,
the campaigns, the data-quality status, the months the source-history rule flags, the paths), and whether
this run published it or found nothing new; on failure, which task failed, why, and where its log is.

It reads the published copy (what BI users get), never the warehouse: the summary describes what they see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb

Say = Callable[..., None]


def step(msg: str, say: Say = print) -> None:
    say(f"==> {msg}", flush=True)


def publication_status(manifest: dict, run_started: datetime) -> str:
    """'published <at>' when this run published, else 'nothing new since <at>' (the publish step kept the
    existing version: no new source data, the same rules)."""
    at = manifest["published_at"]
    if datetime.fromisoformat(at) >= run_started.replace(microsecond=0):
        return f"published {at}"
    return f"nothing new since {at}: the sources hold no new data, the published version is unchanged"


def print_summary(run_started: datetime, say: Say = print) -> None:
    """After a successful run: the published marts and where everything is."""
    from pipeline.publish import DB_NAME, MANIFEST_NAME, published_dir
    from settings import data_dir, warehouse_path

    published = published_dir().resolve()
    manifest_path = published / MANIFEST_NAME
    if not manifest_path.exists():
        step("nothing published yet (the transform skipped: some source has not loaded yet)", say)
        return
    manifest = json.loads(manifest_path.read_text())
    version = manifest["publication"]
    show_marts(published / DB_NAME, version["reporting_currency"], say)
    step("result", say)
    say(f"    {publication_status(manifest, run_started)}")
    say(f"    as of {version['as_of']}, rules {version['rule_version']}, amounts in {version['reporting_currency']}")
    docs = data_dir().resolve() / "data_docs" / "index.html"  # rendered when a suite fails
    say(f"    data quality: {gate_status(warehouse_path())}")
    if flagged := manifest.get("source_history_incomplete"):
        say(
            f"    flagged months: {', '.join(flagged)} have incomplete source history (Recharge no longer serves"
            " their paid renewals): renewals, the win-back cohort and win-back revenue there are short"
            " (source_history_complete = false; such a month cannot be closed)"
        )
    else:
        say("    flagged months: none (every month's source history is complete)")
    say(f"    warehouse: {warehouse_path().resolve()}")
    say(f"    published for BI (read-only): {published / DB_NAME}")
    if manifest.get("report"):
        say(f"    report: {manifest['report']}")
    if manifest.get("health"):
        say(f"    pipeline health: {manifest['health']}")
    if manifest.get("dbt_docs"):
        say(f"    dbt docs (serve the folder: python -m http.server -d {published}): {manifest['dbt_docs']}")
    say(f"    manifest: {manifest_path}")
    if docs.exists():
        say(f"    data docs: {docs}")


def gate_status(warehouse: Path) -> str:
    """The latest run of each quality gate, from ops.dq_results (expectations/runner.py writes it)."""
    query = """
        WITH latest AS (SELECT layer, arg_max(run_id, validated_at) AS run_id FROM ops.dq_results GROUP BY layer)
        SELECT layer, count(*) FILTER (WHERE success), count(*), strftime(max(validated_at), '%Y-%m-%d %H:%M UTC')
        FROM ops.dq_results JOIN latest USING (layer, run_id) GROUP BY layer ORDER BY layer DESC"""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            gates = con.execute(query).fetchall()
        finally:
            con.close()
    except duckdb.Error as e:  # another process holds the warehouse, or no gate has run in it yet
        return f"not read ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
    if not gates:
        return "no gate has run yet"
    return "; ".join(f"{layer} gate {ok} of {n} expectations met ({at})" for layer, ok, n, at in gates)


def print_failure(error: Exception, say: Say = print) -> None:
    """After a failed DAG run: which task, why, and where its log is."""
    step("the pipeline failed", say)
    say(f"    dag: {getattr(error, 'dag_id', '?')} ended {getattr(error, 'state', 'failed')}")
    say(f"    failed task(s): {', '.join(getattr(error, 'tasks', [])) or 'none recorded'}")
    say(f"    why: {getattr(error, 'why', None) or str(error).splitlines()[0]}")
    if log := getattr(error, "log", None):
        say(f"    log: {log}")
    say("    the published version is unchanged (nothing is published before every gate passes)")


def show_marts(db: Path, currency: str, say: Say = print) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(  # months as 'YYYY-MM' (the mart's are DATEs, the first day); final_on is a date or null
            "SELECT strftime(month, '%Y-%m') AS month, * EXCLUDE (month, rule_version, closed_at, final_on) "
            "FROM cs_pnl_monthly_wide ORDER BY 1"
        )
        cols = [d[0] for d in cur.description]
        wide = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        funnel = con.execute("""
            SELECT campaign, sum(contacted), sum(replied), sum(converted_orders), sum(revenue), sum(gross_margin)
            FROM campaign_performance_monthly GROUP BY campaign, campaign_priority ORDER BY campaign_priority
        """).fetchall()
    finally:
        con.close()
    step(f"monthly CS P&L (cs_pnl_monthly_wide, {currency})", say)
    say("    " + f"{'line':<34}" + "".join(f"{r['month']:>12}" for r in wide))
    for c in cols[1:]:
        cells = "".join(f"{('yes' if r[c] else 'no') if isinstance(r[c], bool) else f'{r[c]:,.2f}':>12}" for r in wide)
        say(f"    {c:<34}{cells}")
    step(f"campaigns over the whole period (campaign_performance_monthly, {currency})", say)
    say(f"    {'campaign':<10}{'contacted':>11}{'replied':>10}{'converted':>11}{'revenue':>14}{'margin':>14}")
    for name, contacted, replied, converted, revenue, margin in funnel:
        say(f"    {name:<10}{contacted:>11,}{replied:>10,}{converted:>11,}{revenue:>14,.2f}{margin:>14,.2f}")
