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
