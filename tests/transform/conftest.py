from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.simulate import generate


@pytest.fixture(scope="session")
def tiny_seed2(tmp_path_factory) -> Path:
    """A second tiny company (seed 2): the marts must match the answer key for more than one world."""
    out = tmp_path_factory.mktemp("sim") / "tiny-2"
    generate("tiny", 2, out)
    return out


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh DATA_DIR (warehouse, landing) per test."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "FINANCE_INPUTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"
