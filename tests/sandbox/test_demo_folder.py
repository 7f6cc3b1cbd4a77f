"""`make demo SCALE=tiny` (CI) then `make demo` in the same clone extracted from tiny's watermarks and
published both companies (8 months instead of 6): each demo scale and seed now keeps its own folder."""

from __future__ import annotations

from sandbox.__main__ import DERIVED_PATHS, demo_data_dir, use_demo_data_dir


def test_each_demo_scale_and_seed_has_its_own_folder_apart_from_the_pipelines(data_dir):
    folders = {demo_data_dir(scale, seed) for scale, seed in (("tiny", 1), ("demo", 1), ("demo", 2))}
    assert len(folders) == 3, folders
    assert all(f.parent == data_dir for f in folders), "a demo folder outside DATA_DIR"
    assert data_dir not in folders, "a demo would share the real pipeline's warehouse"


def test_the_demo_points_every_path_at_its_folder(data_dir, monkeypatch, tmp_path):
    from ingest.identity import mirror_path
    from pipeline.publish import published_dir
    from settings import landing_dir, warehouse_path

    real = tmp_path / "real"
    for name in DERIVED_PATHS:  # a real pipeline's settings in the same shell; restored after the test
        monkeypatch.setenv(name, str(real / name.lower()))
    folder = use_demo_data_dir("tiny", 1)
    assert folder == data_dir / "demo-tiny-1"
    paths = [warehouse_path(), landing_dir(), published_dir(), mirror_path()]
    assert all(p.is_relative_to(folder) for p in paths), paths
