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
