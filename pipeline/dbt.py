"""Run dbt against the warehouse as ONE process (DuckDB has a single writer), with the project's vars.

    python -m pipeline.dbt build [--as-of ISO] [--full-refresh] [--select ...]

The profile reads WAREHOUSE_PATH / DATA_DIR like every other entry point, so dbt writes the same
warehouse the loaders fill. `as_of` is the instant the data describes (default: now); the sandbox
passes its own clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from ingest.errors import run_cli
from ingest.parse import InvalidInstant, instant_text
from ingest.paths import warehouse_path

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
MANIFEST = PROJECT_DIR / "target" / "manifest.json"  # `dbt parse` writes it; the transform DAG renders from it
AS_OF_ENV = "DBT_AS_OF"  # the macro as_of() reads it: a changed var would re-parse the whole project (+3.5 s)
# Scheduled builds leave out unit tests: they check the code on fixed inputs (CI runs them), not the data.
SCHEDULED_BUILD_FLAGS = ["--exclude-resource-type", "unit_test"]
# A full rebuild is a few heavy models, each already using every core in DuckDB; two at once share one memory
# cap and spill (at large: 65 s with one thread against 85-98 s with the profile's two). An incremental build is
# many light models, where the profile's second thread overlaps dbt's own per-node work (18-21 s against 24 s).
FULL_REFRESH_FLAGS = ["--threads", "1"]


class DbtFailed(RuntimeError):
    """dbt exited non-zero: a model, a data test or a unit test failed (its output is in the message)."""


@cache
def project_vars() -> dict:
    """The business-rule settings as dbt_project.yml declares them (for Python steps that need them)."""
    import yaml

    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(as_of: str | None = None, warehouse: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if as_of:
        env[AS_OF_ENV] = instant_text(as_of, "as_of")  # parsed: only a canonical instant reaches the SQL
    elif env.get(AS_OF_ENV):  # inherited from the caller's environment: the same check
        env[AS_OF_ENV] = instant_text(env[AS_OF_ENV], AS_OF_ENV)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DBT_VERSION_CHECK", "false")
    env["WAREHOUSE_PATH"] = str((warehouse or warehouse_path()).resolve())  # the profile's fallback is relative
    return env


def run_dbt(
    command: str = "build",
    *,
    as_of: str | None = None,
    full_refresh: bool = False,
    select: list[str] | None = None,
    variables: dict | None = None,
    extra: list[str] | None = None,
    quiet: bool = False,
    warehouse: Path | None = None,
) -> str:
    """Run one dbt command (`build`, `docs generate`, ...) against `warehouse` (default: the configured one);
    return its output, raise DbtFailed with the output on failure."""
    vars_ = dict(variables or {})
    if vars_.get("as_of"):
        vars_["as_of"] = instant_text(vars_["as_of"], "var as_of")
    args = [dbt_executable(), *command.split(), "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    if vars_:
        args += ["--vars", json.dumps(vars_)]
    if full_refresh:
        args += ["--full-refresh", *FULL_REFRESH_FLAGS]
    if select:
        args += ["--select", *select]
    args += extra or []
    proc = subprocess.run(args, env=dbt_env(as_of, warehouse), cwd=PROJECT_DIR, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if not quiet:
        print(output, end="", flush=True)
    if proc.returncode != 0:
        raise DbtFailed(f"dbt {command} failed (exit {proc.returncode}):\n{failures(output)}")
    return output


def ensure_manifest() -> Path:
    """`dbt parse` when the manifest the transform DAG renders from is missing or older than the project."""
    sources = [PROJECT_DIR / "dbt_project.yml", *PROJECT_DIR.glob("models/**/*"), *PROJECT_DIR.glob("macros/**/*"),
               *PROJECT_DIR.glob("tests/**/*")]  # fmt: skip
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not MANIFEST.exists() or MANIFEST.stat().st_mtime < newest:
        run_dbt("parse", quiet=True)
    return MANIFEST


def failures(output: str) -> str:
    """The part of dbt's output that names what failed (the summary after 'Completed with')."""
    marker = output.find("Completed with")
    return output[marker:] if marker >= 0 else output[-4000:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.dbt", description=__doc__)
    parser.add_argument("command", nargs="?", default="build")
    parser.add_argument("--as-of", help="the instant the data describes (ISO 8601; default now)")
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument("--select", nargs="+")
    parser.add_argument("--vars", type=json.loads, default=None, help="extra dbt vars as JSON")
    args = parser.parse_args(argv)
    try:
        as_of = instant_text(args.as_of, "--as-of") if args.as_of else None
        run_dbt(args.command, as_of=as_of, full_refresh=args.full_refresh, select=args.select, variables=args.vars)
    except InvalidInstant as e:  # --as-of, var as_of in --vars, or DBT_AS_OF in the environment
        parser.error(str(e))
    except DbtFailed:
        sys.exit(1)


if __name__ == "__main__":
    run_cli(main)
