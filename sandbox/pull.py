"""Pull a running sandbox into the warehouse through the real ingest path: extract every vendor in
parallel into landing files, load them (one writer), load the finance inputs. Used by the demo, the
tests and the benchmarks; the DAGs call the same ingest functions task by task."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from sandbox.emulators.server import Sandbox


def without_rate_limit(conn: str) -> str:
    """A connection (Airflow JSON) that tells our client the account has no rate limit: for emulators
    started without rate limits, where a client throttle would only slow the run down."""
    parsed = json.loads(conn)
    parsed.setdefault("extra", {})["rate_limit_per_second"] = 0
    return json.dumps(parsed)


@contextmanager
def connections_of(box: Sandbox, unthrottled: bool = True):
    """Point the AIRFLOW_CONN_* variables at the sandbox (restored afterwards). With `unthrottled`, the
    connections say the account has no rate limit (use with Sandbox(rate_limits=False))."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    try:
        for conn_id, value in box.connections().items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = without_rate_limit(value) if unthrottled else value
        yield
    finally:
        for k in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
            del os.environ[k]
        os.environ.update(saved)


def load_all(finance_dir: Path | None = None) -> dict:
    from ingest.finance import load_finance_inputs
    from ingest.load import connect, load_all_vendors

    con = connect()
    try:
        loads = load_all_vendors(con)
        finance = load_finance_inputs(con, finance_dir) if finance_dir else None
    finally:
        con.close()
    return {"vendors": loads, "finance": finance}


def pull(box: Sandbox, sim: Path, window=None) -> dict:
    """Extract everything the sandbox serves at its clock, load it and the sandbox's finance inputs."""
    with connections_of(box, unthrottled=not box.control.rate_limits):
        from ingest.extract import extract_all_vendors

        extracted = extract_all_vendors(window)
    return {"extracted": extracted, **load_all(sim / "finance")}


def clock_iso(box: Sandbox) -> str:
    from sandbox.calendar import from_us

    return from_us(box.clock_us).isoformat()


def pull_and_build(
    sim: Path,
    *,
    advance_days: float = 0,
    variables: dict | None = None,
    full_refresh: bool = False,
    **sandbox_options: object,
) -> int:
    """Pull the sandbox (and again after moving its clock on by `advance_days`, if any), then run one
    `dbt build` as of the sandbox clock. Returns that clock (µs). The emulators run with their defaults
    (Recharge's 90-day window on, as a real store's API), or with `sandbox_options` (Sandbox arguments)."""
    from pipeline.dbt import run_dbt
    from sandbox.calendar import DAY, from_us

    with Sandbox(sim, **{"faults": "none", "rate_limits": False, **sandbox_options}) as box:
        pull(box, sim)
        if advance_days:
            box.advance(advance_days * DAY / 1_000_000)
            pull(box, sim)
        clock = box.clock_us
    run_dbt("build", as_of=from_us(clock).isoformat(), variables=variables, full_refresh=full_refresh, quiet=True)
    return clock
