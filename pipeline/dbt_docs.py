"""The dbt docs site, published beside the report for analysts: every mart's columns, descriptions and lineage.

    stage_docs_site(warehouse, staged_index, published_dir) -> True when staged_index was written

`dbt docs generate --static` writes one self-contained HTML file (the manifest and the catalog inlined, no
server, nothing fetched: dbt ships the page in its package). `--no-compile`: lineage and descriptions come
from parsing; compiling every model again would double the cost for SQL an analyst reads in the repository.
It runs in its own target folder, so it never overwrites the `run_results.json` of the build before it.
The site only changes when the dbt project does: a fingerprint of the project's files is kept beside the
published page, and an unchanged project is not generated again (measured cost in DECISIONLOG).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import settings
from pipeline.dbt import PROJECT_DIR, DbtFailed, ensure_manifest, project_files, run_dbt

log = logging.getLogger(__name__)

DOCS_DIR = "dbt-docs"
FINGERPRINT = "fingerprint.txt"
TARGET = PROJECT_DIR / "target" / "docs"  # partial parsing stays warm here between publishes


def enabled() -> bool:
    return settings.publish_dbt_docs()


def project_fingerprint() -> str:
    """A hash of everything the docs page is generated from in the repository: project file, models (SQL and
    YAML docs), macros, tests, profile."""
    digest = hashlib.sha256()
    for path in project_files():
        digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current(published_dir: Path, fingerprint: str) -> bool:
    folder = published_dir / DOCS_DIR
    marker = folder / FINGERPRINT
    return (folder / "index.html").exists() and marker.exists() and marker.read_text().strip() == fingerprint


def generate(warehouse: Path, staged_index: Path) -> None:
    """`dbt docs generate --static` against the warehouse; the page is written to `staged_index`."""
    TARGET.mkdir(parents=True, exist_ok=True)
    # --no-compile reads the manifest from its target folder: the project's own (what the build ran from)
    shutil.copyfile(ensure_manifest(), TARGET / "manifest.json")
    run_dbt(
        "docs generate",
        extra=["--static", "--no-compile", "--target-path", str(TARGET)],
        quiet=True,
        warehouse=warehouse,
    )
    staged_index.write_bytes((TARGET / "static_index.html").read_bytes())


def stage_docs_site(warehouse: Path, staged_index: Path, staged_marker: Path, published_dir: Path) -> bool:
    """Write the docs page and its fingerprint under staged names, unless the published site is current.
    A failed generation leaves the published site as it was and does not stop the marts from publishing:
    the docs describe the project, the marts are the product."""
    fingerprint = project_fingerprint()
    if is_current(published_dir, fingerprint):
        return False
    try:
        generate(warehouse, staged_index)
    except DbtFailed as e:
        log.warning("dbt docs were not regenerated (the published ones stay): %s", str(e).splitlines()[0])
        return False
    staged_marker.write_text(fingerprint + "\n", encoding="utf-8")
    return True
