"""The dbt `sources` YAML of every vendor, generated from its declaration (ingest/sources), freshness included.

    python -m ingest.dbt_sources          # (re)write dbt_project/models/staging/<vendor>/_<vendor>__sources.yml
    python -m ingest.dbt_sources --check  # exit 1 naming the files that differ from the declarations

One freshness check (`dbt source freshness`, run by the transform DAG's check_freshness): an endpoint is stale
when its last successful load (ops.extract_runs) is older than its vendor's `freshness_hours`
(FRESHNESS_<VENDOR>_HOURS overrides; an endpoint that never loaded is stale). The load time, not the records'
extraction time: an endpoint whose records did not change (users, tags) is still fresh when it was read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ingest.endpoints import Vendor
from ingest.sources import vendors
from ingest.sql import literal

STAGING_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "staging"


def sources_path(vendor: str, staging_dir: Path = STAGING_DIR) -> Path:
    return staging_dir / vendor / f"_{vendor}__sources.yml"


def render(vendor: Vendor) -> str:
    q = json.dumps  # a YAML double-quoted scalar is a JSON string
    hours = f"{{{{ env_var('FRESHNESS_{vendor.name.upper()}_HOURS', '{vendor.freshness_hours}') | as_number }}}}"
    lines = [
        f"# Generated from ingest/sources/{vendor.name}.py by `python -m ingest.dbt_sources`: edit the declaration.",
        "version: 2",
        "",
        "sources:",
        f"  - name: {vendor.name}",
        f"    description: {q(vendor.description)}",
        f"    schema: raw_{vendor.name}",
        "    config:",
        "      freshness:",
        f"        error_after: {{count: {q(hours)}, period: hour}}",
        "    tables:",
    ]
    for ep in vendor.endpoints:
        key = "id" if ep.key == "id" else f"id ({ep.key})"
        loaded = (
            "select coalesce(max(loaded_at), '1970-01-01 00:00:00+00'::timestamptz) from ops.extract_runs"
            f" where vendor = {literal(ep.vendor)} and endpoint = {literal(ep.entity)} and status = 'succeeded'"
        )
        lines += [
            f"      - name: {ep.entity}",
            f"        description: {q(f'{ep.table}: {key}, updated_at (version), extracted_at, run_id, load_id, record (the vendor JSON).')}",  # noqa: E501
            "        config:",
            f"          loaded_at_query: {q(loaded)}",
        ]
    return "\n".join(lines) + "\n"


def stale_files(staging_dir: Path = STAGING_DIR) -> list[Path]:
    """The sources files that differ from what the declarations generate."""
    out = []
    for name, vendor in vendors().items():
        path = sources_path(name, staging_dir)
        if not path.exists() or path.read_text() != render(vendor):
            out.append(path)
    return out


def write_all(staging_dir: Path = STAGING_DIR) -> list[Path]:
    written = stale_files(staging_dir)
    for path in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(vendors()[path.parent.name]))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ingest.dbt_sources", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    if args.check:
        if stale := stale_files():
            sys.exit("error: generated from ingest/sources, run `python -m ingest.dbt_sources`: "
                     + ", ".join(str(p) for p in stale))  # fmt: skip
        return
    for path in write_all():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
