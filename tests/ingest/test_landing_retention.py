"""Landing retention: a rerun's lookback re-extract must not grow data/, and no prune ever removes a file the
warehouse has not loaded. Real emulators on loopback, real landing files, a real DuckDB warehouse."""

from __future__ import annotations

import duckdb

from ingest.extract import extract_all_vendors
from ingest.landing import prune_loaded
from ingest.load import load_all_vendors
from sandbox.calendar import DAY
from sandbox.emulators.server import Sandbox
from settings import landing_dir
from tests.ingest.sandbox_truth import assert_raw_equals_sandbox
from tests.ingest.test_pipeline_extract_load import env, use  # noqa: F401 (a fixture)


def landing_files() -> set[str]:
    return {str(p.relative_to(landing_dir())) for p in landing_dir().rglob("*") if p.is_file()}


def runs_per_folder() -> dict[str, int]:
    return {str(f.relative_to(landing_dir())): len(list(f.glob("*.manifest.json"))) for f in landing_dir().glob("*/*")}


def loaded(warehouse) -> set[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {f for (f,) in con.execute("SELECT file FROM ops.loaded_files").fetchall()}
    finally:
        con.close()


def test_reruns_keep_one_loaded_run_per_endpoint_and_the_raw_layer_whole(tiny, env, monkeypatch):  # noqa: F811
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        for day in range(3):  # three daily runs, each re-reading its lookback window
            if day:
                box.advance(DAY // 1_000_000)
            extract_all_vendors()
            load_all_vendors()
        clock = box.clock_us
    counts = runs_per_folder()
    assert counts and set(counts.values()) == {1}, counts  # LANDING_KEEP_LOADED_RUNS defaults to 1
    assert_raw_equals_sandbox(tiny, clock, env / "warehouse.duckdb")  # nothing lost from the raw layer


def test_a_prune_never_removes_a_file_not_loaded(tiny, env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LANDING_KEEP_LOADED_RUNS", "5")  # the loads below prune nothing: this test prunes
    with Sandbox(tiny, faults="none", rate_limits=False, recharge_retention_days=0) as box:
        use(box, monkeypatch)
        extract_all_vendors()
        load_all_vendors()
        box.advance(DAY // 1_000_000)
        extract_all_vendors()  # landed, not loaded (the loader has not run yet, or died)
    done = loaded(env / "warehouse.duckdb")
    before = landing_files()
    not_loaded = {f for f in before if f.rsplit("/", 1)[-1] not in done and not f.endswith("_state.json")}
    not_loaded = {f for f in not_loaded if "/rejected/" not in f}
    assert not_loaded, "nothing unloaded landed: nothing was tested"

    removed = []
    for folder in landing_dir().glob("*/*"):
        removed += prune_loaded(folder, done, keep=0)  # keep nothing that is loaded
    after = landing_files()
    assert removed, "no loaded file was pruned: nothing was tested"
    assert not_loaded <= after  # every unloaded file (and its manifest) is still there
    # only loaded files went (and the quarantined records of a loaded run)
    assert all(f.rsplit("/", 1)[-1] in done or "/rejected/" in f for f in before - after), before - after

    load_all_vendors()  # the unloaded run still loads, whole
    assert not {f.rsplit("/", 1)[-1] for f in not_loaded if f.endswith(".parquet")} - loaded(env / "warehouse.duckdb")
