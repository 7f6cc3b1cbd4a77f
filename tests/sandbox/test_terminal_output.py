"""What a user sees: `make demo` and `make run` print only lines about this project's work and end with the
summary; a second demo right after the first publishes nothing new and says so.

Real runs at tiny, each in its own process as a user starts them (`python -m sandbox demo`, then
`python -m pipeline.run` against the emulators). Every printed line must match one of the project's own line
shapes below: a new library warning, a log line or a traceback fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.calendar import from_us
from sandbox.emulators.server import Sandbox
from sandbox.pull import without_rate_limit

REPO = Path(__file__).resolve().parents[2]
N = r"-?[\d,]+(\.\d+)?"
PATH = r"/\S+"
INSTANT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
# The project's own line shapes (sandbox/__main__.py, sandbox/demo.py, pipeline/run.py, pipeline/summary.py).
LINE_SHAPES = [
    r"generating scale=tiny seed=1 \.\.\.",
    rf"generated {N} rows in {N} s -> {PATH}",
    rf"demo data folder: {PATH}",
    r"==> [a-z].*",  # a step's title
    r"    (gorgias|recharge|shopify|easypost) +http://127\.0\.0\.1:\d+",
    rf"    dag [a-z_]+ +(running|success in {N} s)",
    rf"    pipeline took {N} s",
    r"    line( +\d{4}-\d\d)+",  # the P&L's header
    r"    campaign +contacted +replied +converted +revenue +margin",
    rf"    [a-z_]+( +({N}|yes|no))+",  # a P&L line or a campaign
    rf"    {N} rows compared: all equal, to the cent",
    rf"    published {INSTANT}",
    rf"    nothing new since {INSTANT}: the sources hold no new data, the published version is unchanged",
    rf"    as of {INSTANT}, rules v\d+, amounts in [A-Z]{{3}}",
    r"    data quality: raw gate (?P<raw>\d+) of (?P=raw) expectations met \([\d: -]+ UTC\);"  # all met
    r" marts gate (?P<marts>\d+) of (?P=marts) expectations met \([\d: -]+ UTC\)",
    r"    flagged months: none \(every month's source history is complete\)",
    r"    flagged months: \d{4}-\d\d(, \d{4}-\d\d)* have incomplete source history .*",
    rf"    (warehouse|published for BI \(read-only\)|report|pipeline health|manifest|data docs): {PATH}",
    rf"    dbt docs \(serve the folder: python -m http.server -d {PATH}\): {PATH}",
]
SHAPE = re.compile("|".join(f"(?:{s})" for s in LINE_SHAPES))


def foreign_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if not SHAPE.fullmatch(line)]


def run(args: list[str], env: dict) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def summary_of(output: str) -> list[str]:
    return output[output.rindex("==> result") :].splitlines()


def test_the_line_shapes_reject_what_the_issue_saw():
    seen = [  # issue 25: each of these spliced into a run's progress lines
        "[2026-12-01T10:00:00.000+0000] {graph.py:564} WARNING - Unavailable conversion function for"
        " <DbtResourceType.EXPOSURE> (node <exposure.cs.finance>). Define a converter function using"
        " render_config.node_converters.",
        "To enable emitting Openlineage events, install apache-airflow-providers-openlineage.",
        "2026-12-05T16:09:29.434978Z [warning  ] empty cryptography key - values will not be stored encrypted.",
        "    dag transform          ...2026-12-05T16:09:29Z [warning  ] No tasks to run. unrunnable tasks: {}",
        "/x/site-packages/dbt/x.py:1: DeprecationWarning: this is going away",
    ]
    assert foreign_lines("\n".join(seen)) == seen


@pytest.mark.slow
def test_demo_and_run_print_only_the_projects_lines_end_with_the_summary_and_a_rerun_publishes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WAREHOUSE_PATH", "LANDING_DIR"))}
    env.update(PYTHONPATH=str(REPO), DATA_DIR=str(tmp_path / "data"))
    # Python's own warning filters, as a user's shell has them (cosmos' DeprecationWarnings about our DAG's
    # arguments are for developers: pytest's warnings summary shows them)
    for name in ("PUBLISHED_DIR", "EXPORTS_DIR", "FINANCE_INPUTS_DIR", "PYTHONWARNINGS"):
        env.pop(name, None)
    folder = tmp_path / "data" / "demo-tiny-1"
    manifest = folder / "published" / "manifest.json"

    first = run(["-m", "sandbox", "demo", "--scale", "tiny"], env)
    assert not (foreign := foreign_lines(first)), "\n".join(foreign)
    published = json.loads(manifest.read_text())["published_at"]
    summary = summary_of(first)
    assert f"    published {published}" in summary
    assert any(line.startswith("    report: ") for line in summary)
    assert any(line.startswith("    pipeline health: ") for line in summary)
    assert "==> monthly CS P&L (cs_pnl_monthly_wide, USD)" in first
    db = folder / "published" / "marts.duckdb"
    before = (db.stat().st_ino, db.stat().st_mtime_ns)

    second = run(["-m", "sandbox", "demo", "--scale", "tiny"], env)
    assert not (foreign := foreign_lines(second)), "\n".join(foreign)
    assert json.loads(manifest.read_text())["published_at"] == published  # the same version, kept
    assert (db.stat().st_ino, db.stat().st_mtime_ns) == before
    assert summary_of(second)[1].startswith(f"    nothing new since {published}")

    # `make run` against the same emulators, in the demo's folder, describing the same instant
    sim = tmp_path / "data" / "sandbox" / "tiny-1"
    with Sandbox(sim, faults="none", rate_limits=False) as box:
        conns = {f"AIRFLOW_CONN_{c.upper()}": without_rate_limit(v) for c, v in box.connections().items()}
        end = from_us(box.clock_us).isoformat()
        run_env = {**env, **conns, "DATA_DIR": str(folder), "FINANCE_INPUTS_DIR": str(sim / "finance")}
        third = run(["-m", "pipeline.run", "--end", end], run_env)
    assert not (foreign := foreign_lines(third)), "\n".join(foreign)
    assert summary_of(third)[1].startswith(f"    nothing new since {published}")
    assert "==> campaigns over the whole period (campaign_performance_monthly, USD)" in third
