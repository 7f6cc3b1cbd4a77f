"""The transform DAG has one shape: its dbt models as tasks, rendered from the manifest that install builds.
Without a manifest it does not parse (a clear error), where it used to become a single `dbt_build` task."""

from __future__ import annotations

import pytest

import pipeline.dbt


def test_without_the_manifest_the_dbt_tasks_refuse_to_render(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline.dbt, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(pipeline.dbt.ManifestMissing, match="make install"):
        pipeline.dbt.dbt_task_group("dbt", "", "duckdb_writer")


def test_install_builds_the_manifest():
    from tests.deploy.compose import REPO

    makefile = (REPO / "Makefile").read_text()
    install = next(line for line in makefile.splitlines() if line.startswith("install:"))
    assert "$(MANIFEST)" in install and "MANIFEST := dbt_project/target/manifest.json" in makefile
    assert "python -m pipeline.dbt parse" in (REPO / "Dockerfile").read_text()
