from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.simulate import generate


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """The tiny sandbox company, generated once per test session (deterministic)."""
    out = tmp_path_factory.mktemp("sim") / "tiny-1"
    generate("tiny", 1, out)
    return out


PATH_VARIABLES = ("WAREHOUSE_PATH", "LANDING_DIR", "FINANCE_INPUTS_DIR", "EXPORTS_DIR", "PUBLISHED_DIR")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh DATA_DIR (warehouse, landing, published, exports) for one test."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in PATH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


@pytest.fixture(scope="session")
def tiny_warehouse(tiny, tmp_path_factory) -> Path:
    """One real warehouse of the tiny company (emulators -> ingest -> `dbt build`), built once per
    session for the tests that only read it or work on a copy (quality gates, publishing)."""
    from sandbox.pull import pull_and_build

    data = tmp_path_factory.mktemp("tiny-warehouse") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATA_DIR", str(data))
        for name in PATH_VARIABLES:
            mp.delenv(name, raising=False)
        pull_and_build(tiny)
    return data / "warehouse.duckdb"


@pytest.fixture
def tiny_warehouse_copy(tiny_warehouse, data_dir) -> Path:
    """A copy of the session's tiny warehouse in this test's fresh DATA_DIR, for a test that changes it."""
    import shutil

    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_warehouse, data_dir / "warehouse.duckdb")
    return data_dir / "warehouse.duckdb"
