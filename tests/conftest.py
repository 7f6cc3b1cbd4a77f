from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from pipeline.airflow_local import configure
from sandbox.simulate import generate

# Airflow reads its home and metadata DB once, when first imported, and collecting a test module can be that
# import (`from airflow.sdk... import ...` at its top): without a home set by then, the session's in-process
# Airflow used ~/airflow/airflow.db, shared with every other process on the machine and holding the runs of
# earlier sessions, and the DAG tests after it failed (the full `make test`; alone they passed). This
# session's own, first: the tests' `configure()` calls keep it (they only set what is unset).
_AIRFLOW_SESSION = Path(tempfile.mkdtemp(prefix="pytest-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_SESSION, ignore_errors=True)
configure(_AIRFLOW_SESSION)


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
