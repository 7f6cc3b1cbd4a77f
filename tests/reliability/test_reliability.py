"""The reliability suite: the whole pipeline (real emulators on loopback, real landing files, a real
DuckDB file, real `dbt build`, real publish) under faults, kills, concurrent readers, schema drift,
bad finance inputs and calendar edges.

    make test-reliability                                   # 20 kills, 5 reader runs
    RELIABILITY_KILLS=4 RELIABILITY_READER_RUNS=2 ...       # CI's reduced size

Each case prints what it tried and what it checked; the counts (trials, faults injected, records
checked, failures) are totalled at the end of the run (see conftest.py).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingest.extract import Window, extract_all_vendors, extract_vendor
from ingest.finance import FinanceInputError, load_finance_inputs
from ingest.load import connect, load_all_vendors
from pipeline.dbt import run_dbt
from pipeline.publish import publish, published_dir
from sandbox.answer_key import AnswerKey
from sandbox.calendar import DAY, US, from_us
from sandbox.emulators.server import Sandbox
from sandbox.pull import connections_of, load_all
from sandbox.verify import compare
from settings import landing_dir, warehouse_path
from tests.ingest.sandbox_truth import assert_raw_equals_sandbox
from tests.sandbox.world import World, t

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

KILLS = int(os.environ.get("RELIABILITY_KILLS", "20"))
READER_RUNS = int(os.environ.get("RELIABILITY_READER_RUNS", "5"))
SEED = int(os.environ.get("RELIABILITY_SEED", "7"))
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ONE_DAY_S = DAY / US


def iso(clock_us: int) -> str:
    return from_us(clock_us).isoformat()


@dataclass
class Run:
    stage: str  # the last stage it began
    killed: bool
    seconds: dict[str, float]  # how long each stage it finished took


def run_pipeline(as_of: str, log: Path, kill: tuple[str, float] | None = None) -> Run:
    """Load → dbt build → publish in a process group of its own (as an Airflow worker runs it). With
    `kill` = (stage, seconds), SIGKILL the whole group (the dbt child included) that long after the stage
    began."""
    proc = subprocess.Popen(
        [sys.executable, "-u", str(HERE / "pipeline_once.py"), as_of],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    marks: list[tuple[str, float]] = []
    reached = threading.Event()

    def follow() -> None:
        with open(log, "w") as out:
            for line in proc.stdout:
                out.write(line)
                if line.startswith("stage "):
                    marks.append((line.split()[1], time.monotonic()))
                    if kill and marks[-1][0] == kill[0]:
                        reached.set()
        reached.set()  # ended before reaching that stage

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    killed = False
    if kill:
        reached.wait()
        time.sleep(kill[1])
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    proc.wait()
    follower.join(30)
    if not killed and proc.returncode != 0:
        raise AssertionError(f"the pipeline failed (exit {proc.returncode}):\n{log.read_text()[-4000:]}")
    seconds = {a: round(t2 - t1, 2) for (a, t1), (_, t2) in itertools.pairwise(marks)}
    return Run(marks[-1][0] if marks else "start", killed, seconds)


def check_everything(sim: Path, clock: int) -> int:
    """Marts = the answer key, raw = the vendor's records (none missing, none twice), published = the
    warehouse's marts. Returns the records checked."""
    warehouse = warehouse_path()
    marts_checked, problems = compare(warehouse, AnswerKey(sim, as_of=clock).marts())
    assert not problems, "\n".join(problems[:20])
    raw_checked = assert_raw_equals_sandbox(sim, clock, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for name, rows in published_counts().items():
            (n,) = con.execute(f'SELECT count(*) FROM marts."{name}"').fetchone()
            assert rows == n, f"published {name} has {rows} rows, the warehouse {n}"
    finally:
        con.close()
    return marts_checked + raw_checked


def test_heavy_faults_on_every_emulator_end_equal_to_the_answer_key(tiny, data_dir, tally):
    with Sandbox(tiny, faults="heavy", rate_limits=True, recharge_retention_days=0, slow_seconds=0.5) as box:
        with connections_of(box, unthrottled=False):
            extract_all_vendors()
        load_all(tiny / "finance")
        stats, clock = box.stats(), box.clock_us
    run_dbt("build", as_of=iso(clock), quiet=True)
    publish()
    faults = {v: sum(s["faults"].values()) + s["throttled_429"] for v, s in stats.items()}
    requests = sum(s["requests"] for s in stats.values())
    tally.say(f"tried: {requests:,} requests with faults 'heavy' and rate limits on; injected {faults}")
    checked = check_everything(tiny, clock)
    tally.say(f"checked: {checked:,} raw records and mart rows equal the sandbox and its answer key")
    tally.add(trials=1, faults_injected=sum(faults.values()), records_checked=checked)
    assert sum(faults.values()) >= 20, "too few faults were injected to test anything"


@pytest.fixture
def finance_inputs(tiny, data_dir, monkeypatch) -> Path:
    """The tiny company's finance CSVs, for the pipeline processes these tests start."""
    monkeypatch.setenv("FINANCE_INPUTS_DIR", str(tiny / "finance"))
    return tiny / "finance"


@pytest.mark.usefixtures("finance_inputs")
def test_killed_at_random_points_the_next_run_recovers_exactly(tiny, data_dir, tally, tmp_path):
    rng = random.Random(SEED)
    died_in: Counter[str] = Counter()
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box, connections_of(box):
        extract_all_vendors()
        run_pipeline(iso(box.clock_us), tmp_path / "first.log")
        box.advance(ONE_DAY_S)
        extract_all_vendors()
        spans = run_pipeline(iso(box.clock_us), tmp_path / "reference.log").seconds  # a daily run's stages
        tally.say("a daily run's stages: " + ", ".join(f"{s} {n:.1f} s" for s, n in spans.items()))
        for trial in range(KILLS):
            box.advance(ONE_DAY_S)  # every trial has new data to load, transform and publish
            from_scratch = trial % 4 == 3
            if from_scratch:  # the warehouse lost: every landing file is loaded again, dbt builds from nothing
                warehouse_path().unlink()
                Path(str(warehouse_path()) + ".wal").unlink(missing_ok=True)
            extract_all_vendors()
            clock = box.clock_us
            target = ("load", "dbt", "publish")[trial % 3]
            at = rng.uniform(0, 0.8 * spans[target])  # a stage runs faster or slower each time: aim inside it
            run = run_pipeline(iso(clock), tmp_path / f"kill-{trial}.log", kill=(target, at))
            died_in[run.stage if run.killed else "finished first"] += 1
            run_pipeline(iso(clock), tmp_path / f"recover-{trial}.log")
            checked = check_everything(tiny, clock)
            tally.add(trials=1, faults_injected=int(run.killed), records_checked=checked)
            where = f"in {run.stage}" if run.killed else "too late: it had finished"
            tally.say(
                f"trial {trial + 1}/{KILLS}: SIGKILL {at:.2f} s into {target} ({where})"
                f"{', warehouse lost first' if from_scratch else ''}; the next run checked equal on {checked:,} records"
            )
    tally.say(f"kills by stage: {dict(died_in)}")
    assert sum(n for s, n in died_in.items() if s != "finished first") >= KILLS * 3 // 4


@pytest.mark.usefixtures("finance_inputs")
def test_readers_polling_through_pipeline_runs_see_only_whole_versions(tiny, data_dir, tally, tmp_path):
    reader, stop = ROOT / "tests" / "publish" / "reader.py", tmp_path / "stop"
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box, connections_of(box):
        extract_all_vendors()
        run_pipeline(iso(box.clock_us), tmp_path / "first.log")
        versions = [published_counts()]
        db = str(published_dir() / "marts.duckdb")
        procs = {
            mode: subprocess.Popen([sys.executable, str(reader), db, str(tmp_path / f"{mode}.json"), str(stop), mode])
            for mode in ("hold", "reopen")
        }
        try:
            for mode in procs:
                wait_for(tmp_path / f"{mode}.json.ready")
            for run in range(READER_RUNS):
                box.advance(ONE_DAY_S)
                extract_all_vendors()
                run_pipeline(iso(box.clock_us), tmp_path / f"run-{run}.log")
                versions.append(published_counts())
        finally:
            stop.touch()
            for p in procs.values():
                p.wait(60)
    polls = 0
    for mode in procs:
        seen = json.loads((tmp_path / f"{mode}.json").read_text())
        assert seen["errors"] == [], f"{mode} reader: {seen['errors'][:3]}"
        partial = [s for s in seen["seen"] if s not in versions]
        assert not partial, f"{mode} reader saw a version that was never published complete: {partial[:1]}"
        polls += len(seen["seen"])
    tally.say(f"tried: 2 readers (one holding the file open, one reconnecting) polling every 100 ms"
              f" through {READER_RUNS} pipeline runs")  # fmt: skip
    tally.say(f"checked: {polls:,} polls, each equal to one of the {len(versions)} published versions; zero errors")
    tally.add(trials=READER_RUNS, records_checked=polls)


def published_counts() -> dict[str, int]:
    manifest = json.loads((published_dir() / "manifest.json").read_text())
    return {name: t["rows"] for name, t in manifest["tables"].items()}


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_schema_drift_is_kept_nulled_or_quarantined_and_nothing_is_lost(tiny, data_dir, tally):
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box, connections_of(box):
        # a paged JSON route (Shopify's orders now come as a bulk operation's JSONL file, which Drift does not shape)
        new = box.drift("recharge", "/customers", "new_field", "x_loyalty_tier", value={"tier": "gold"})
        gone = box.drift("gorgias", "/api/tickets", "missing_field", "subject")
        money_obj = {"amount": "49.00", "currency_code": "USD"}  # money became an object
        retyped = box.drift("recharge", "/charges", "type_change", "total_price", records=1, value=money_obj)
        extract_all_vendors()
        load_all(tiny / "finance")
        clock = box.clock_us
        run_dbt("build", as_of=iso(clock), quiet=True)
        tally.say(f"tried: a new field on {len(new.applied_to)} Recharge customers, 'subject' missing on"
                  f" {len(gone.applied_to)} Gorgias tickets, 'total_price' an object on Recharge charge"
                  f" {retyped.applied_to}")  # fmt: skip
        con = duckdb.connect(str(warehouse_path()), read_only=True)
        try:
            kept = con.execute(
                "SELECT list(id) FROM raw_recharge.customers"
                " WHERE json_extract_string(record, '$.x_loyalty_tier.tier') = 'gold'"
            ).fetchone()[0]
            subjects = con.execute(
                f"SELECT count(*), count(subject) FROM staging.stg_gorgias__tickets "
                f"WHERE ticket_id IN ({','.join(map(str, gone.applied_to))})"
            ).fetchone()
            in_raw = con.execute("SELECT count(*) FROM raw_recharge.charges WHERE id = ?", [str(retyped.applied_to[0])])
            in_raw = in_raw.fetchone()[0]
            rejected_runs = con.execute(
                "SELECT sum(rejected) FROM ops.extract_runs WHERE vendor = 'recharge' AND endpoint = 'charges'"
            ).fetchone()[0]
        finally:
            con.close()
        rejected = duckdb.sql(
            f"SELECT id, reason FROM read_parquet('{landing_dir()}/recharge/charges/rejected/*.parquet')"
        ).fetchall()
        assert sorted(map(int, kept)) == sorted(new.applied_to), "new fields are kept in the raw JSON"
        assert subjects == (len(gone.applied_to), 0), "a missing optional field is a null, and the record stays"
        assert in_raw == 0 and rejected_runs == 1
        assert [r[0] for r in rejected] == [str(retyped.applied_to[0])] and "total_price" in rejected[0][1]
        tally.say(f"checked: {len(kept)} kept with the new field; {subjects[0]} tickets loaded with a null subject;"
                  f" the charge quarantined with the reason {rejected[0][1]!r}")  # fmt: skip
        # The vendor fixes its payload: a full refresh brings the quarantined record in; nothing was lost.
        extract_vendor("recharge", Window(full_refresh=True))
        load_all_vendors()
    run_dbt("build", as_of=iso(clock), quiet=True)
    publish()
    checked = check_everything(tiny, clock)
    tally.say(f"checked: after the vendor's fix and a full refresh, {checked:,} records equal the sandbox")
    tally.add(trials=3, faults_injected=len(new.applied_to) + len(gone.applied_to) + 1, records_checked=checked)


BAD_FINANCE = {  # file -> (what is wrong, the change, words the error must contain)
    "wrong columns": ("cs_costs.csv", lambda text: text.replace("cost_type", "type", 1), ["cs_costs.csv", "cost_type"]),
    "a bad number": ("cs_costs.csv", lambda text: replace_field(text, 2, 2, "12.5O"), ["line 2", "amount"]),
    "a bad date": ("product_costs.csv", lambda text: replace_field(text, 2, 1, "2026-02-30"), ["line 2", "valid_from"]),
    "a duplicate key": ("fx_rates.csv", lambda text: text + text.splitlines()[1] + "\n", ["fx_rates.csv", "duplicate"]),
}


def replace_field(text: str, line: int, column: int, value: str) -> str:
    lines = text.splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_bad_finance_inputs_fail_precisely_and_keep_the_last_good_version(tiny, data_dir, tally, tmp_path):
    con = connect()
    try:
        load_finance_inputs(con, tiny / "finance")
        before = finance_snapshot(con)
        for case, (name, corrupt, words) in BAD_FINANCE.items():
            folder = tmp_path / case.replace(" ", "-")
            shutil.copytree(tiny / "finance", folder)
            (folder / name).write_text(corrupt((folder / name).read_text()))
            with pytest.raises(FinanceInputError) as error:
                load_finance_inputs(con, folder)
            message = str(error.value)
            missing = [w for w in words if w.lower() not in message.lower()]
            assert not missing, f"{case}: the error does not name {missing}: {message}"
            assert finance_snapshot(con) == before, f"{case}: the last good finance inputs changed"
            named = next(line for line in message.splitlines() if name in line).strip()
            tally.say(f"tried {case} in {name}: {named[:160]}")
            tally.add(trials=1, faults_injected=1, records_checked=sum(len(rows) for rows in before.values()))
    finally:
        con.close()
    tally.say("checked: every bad file failed with file, line and column, and the loaded version stayed unchanged")


def finance_snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw_finance' ORDER BY 1")
    return {n: con.execute(f"SELECT * FROM raw_finance.{n} ORDER BY ALL").fetchall() for (n,) in tables.fetchall()}


def calendar_world() -> World:
    """Orders either side of the spring DST change and of local month ends, a renewal day on a Sunday,
    and a February with no activity at all (its costs still count)."""
    w = World()
    w.agents()
    a, b, c, d = (w.customer(f"{n}@x.com", i) for i, n in ((1, "a"), (21, "b"), (41, "c"), (61, "d")))
    w.touch(a, "cs-upsell-welcome", t(2026, 1, 25, 10), replies=(t(2026, 1, 25, 11),))
    w.order(a, t(2026, 1, 31, 23, 30))  # 05:30 UTC on Feb 1st: still January's
    w.touch(b, "cs-upsell-welcome", t(2026, 3, 6, 10), replies=(t(2026, 3, 6, 11),))
    w.order(b, t(2026, 3, 8, 1, 30))  # CST, half an hour before the clocks jump
    w.order(b, t(2026, 3, 8, 3, 30))  # CDT, the first hour after it
    w.touch(c, "cs-upsell-welcome", t(2026, 3, 25, 10), replies=(t(2026, 3, 25, 11),))
    w.order(c, t(2026, 3, 31, 23, 30))  # 04:30 UTC on April 1st (CDT): March's
    w.renewal(d, (2026, 3, 15), "success", 1, t(2026, 3, 15, 9))  # the 15th is a Sunday
    w.renewal(a, (2026, 3, 15), "success", 4, t(2026, 3, 27, 23, 59))  # recovered on the last dunning day
    w.clock = t(2026, 4, 2)
    return w


def test_dst_weekend_renewals_and_an_empty_month(data_dir, tally, tmp_path):
    from sandbox.pull import pull_and_build

    sim = calendar_world().write(tmp_path / "calendar-world")
    clock = pull_and_build(sim)
    publish()
    checked = check_everything(sim, clock)
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        months = dict(
            con.execute("SELECT order_id, strftime(booked_month, '%Y-%m') FROM marts.fct_attributed_orders").fetchall()
        )
        feb = dict(
            con.execute("SELECT line, amount FROM marts.cs_pnl_monthly WHERE month = DATE '2026-02-01'").fetchall()
        )
        cohort = con.execute(
            "SELECT renewals, failed, recovered_by_dunning FROM marts.winback_cohorts "
            "WHERE renewal_month = DATE '2026-03-01'"
        ).fetchone()
    finally:
        con.close()
    assert sorted(months.values()) == ["2026-01", "2026-03", "2026-03", "2026-03"]
    assert feb, "a month with no activity still has its P&L lines"
    assert feb["cost_staffing"] != 0 and all(v == 0 for k, v in feb.items() if k.startswith("revenue"))
    assert cohort == (2, 1, 1)
    tally.say("tried: orders at 23:30 local on month ends (UTC already next month), either side of the DST jump,"
              " a renewal day on a Sunday, a February with no activity")  # fmt: skip
    tally.say(f"checked: months {sorted(months.values())}, February's lines {feb}, March cohort {cohort};"
              f" {checked} records equal the answer key")  # fmt: skip
    tally.add(trials=1, records_checked=checked)
