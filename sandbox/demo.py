"""`make demo`: the sandbox company behind its emulators, through the real Airflow DAGs.

Starts the four emulators, runs every DAG in-process with `dag.test()` (extract + load per vendor,
finance inputs, then transform: freshness, raw quality gate, dbt build, mart gate, publish), checks
every mart row against the sandbox's answer key and ends with the summary `make run` ends with
(pipeline/summary.py). Idempotent: a second run extracts from the watermarks, changes nothing it
already has, rebuilds the same marts, publishes nothing new and says so.
"""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.calendar import from_us
from sandbox.emulators.server import Sandbox


def step(msg: str) -> float:
    print(f"==> {msg}", flush=True)
    return time.monotonic()


def run_demo(sim: Path) -> None:
    import os
    from datetime import UTC, datetime

    from pipeline.airflow_local import configure

    configure()  # before anything imports airflow
    os.environ["FINANCE_INPUTS_DIR"] = str(sim / "finance")
    from pipeline.airflow_local import DagRunFailed
    from pipeline.run import run_pipeline
    from pipeline.summary import print_failure, print_summary
    from sandbox.answer_key import AnswerKey
    from sandbox.pull import connections_of
    from sandbox.verify import compare
    from settings import warehouse_path

    run_started = datetime.now(UTC)
    with Sandbox(sim, faults="none", rate_limits=False) as box:
        step("sandbox emulators on loopback")
        for vendor, url in box.urls.items():
            print(f"    {vendor:<10} {url}")
        clock = box.clock_us
        started = step(
            "the pipeline through its Airflow DAGs (dag.test): extract + load per vendor, finance inputs, "
            "then transform (freshness, raw gate, dbt build, mart gate, publish)"
        )
        try:
            with connections_of(box):
                run_pipeline(from_us(clock), as_of=from_us(clock).isoformat())
        except DagRunFailed as failed:
            print_failure(failed)
            raise SystemExit(1) from None
        print(f"    pipeline took {time.monotonic() - started:.1f} s")

    step("checking every mart row against the sandbox's answer key")
    checked, problems = compare(warehouse_path(), AnswerKey(sim, as_of=clock).marts())
    print(f"    {checked:,} rows compared: " + ("all equal, to the cent" if not problems else "DIFFERENCES"))
    for p in problems:
        print(f"    {p}")
    print_summary(run_started)
    if problems:
        raise SystemExit(1)
