"""Run dbt against the warehouse as ONE process (DuckDB has a single writer), with the project's vars.

    python -m pipeline.dbt build [--as-of ISO] [--full-refresh] [--select ...]

The profile reads the warehouse path and memory cap that `settings` gives every entry point, so dbt writes
the same warehouse the loaders fill. `as_of` is the instant the data describes (default: now); the sandbox
passes its own clock. `dbt_task_group` renders the project as the transform DAG's tasks (cosmos).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from ingest.errors import run_cli
from ingest.parse import InvalidInstant, instant_text
from settings import DBT_AS_OF_ENV as AS_OF_ENV
from settings import DBT_MANIFEST as MANIFEST
from settings import DBT_PROJECT_DIR as PROJECT_DIR
from settings import dbt_env_vars

# Scheduled builds leave out unit tests: they check the code on fixed inputs (CI runs them), not the data.
SCHEDULED_BUILD_FLAGS = ["--exclude-resource-type", "unit_test"]
# A full rebuild is a few heavy models, each already using every core in DuckDB: two at once share one memory
# cap and spill. An incremental build is many light models, where the profile's second thread overlaps dbt's
# own per-node work. (Measured in DECISIONLOG, Speed.)
FULL_REFRESH_FLAGS = ["--threads", "1"]
PROFILE = {"profile_name": "cs_profit_center", "target_name": "duckdb"}


class DbtFailed(RuntimeError):
    """dbt exited non-zero: a model, a data test or a unit test failed (its output is in the message)."""


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(as_of: str | None = None, warehouse: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if as_of:
        env[AS_OF_ENV] = instant_text(as_of, "as_of")  # parsed: only a canonical instant reaches the SQL
    elif env.get(AS_OF_ENV):  # inherited from the caller's environment: the same check
        env[AS_OF_ENV] = instant_text(env[AS_OF_ENV], AS_OF_ENV)
    env |= dbt_env_vars()
    if warehouse:  # another file than the configured warehouse (the dbt docs read the published one)
        env["WAREHOUSE_PATH"] = str(Path(warehouse).resolve())
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
    """Run one dbt command (`build`, `source freshness`, `docs generate`, ...) against `warehouse` (default: the
    configured one); return its output, raise DbtFailed with the output on failure."""
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


def project_files() -> list[Path]:
    """Every file of the dbt project that parsing reads (what the manifest and the docs site are made from)."""
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots", "analyses"):
        files += [p for p in (PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return sorted(p for p in files if p.exists())


def ensure_manifest() -> Path:
    """`dbt parse` when the manifest the transform DAG renders from is missing or older than the project: install
    builds it; this keeps it current for whoever edits a model and runs the DAGs (`make run`, `make up`)."""
    newest = max(p.stat().st_mtime for p in project_files())
    if not MANIFEST.exists() or MANIFEST.stat().st_mtime < newest:
        run_dbt("parse", quiet=True)
    return MANIFEST


class ManifestMissing(RuntimeError):
    """The transform DAG renders from the dbt manifest, which install builds."""


def dbt_task_group(group_id: str, as_of: str, pool: str):
    """The dbt project as one task per model (astronomer-cosmos, rendered from the dbt manifest so parsing stays
    fast), executed by ONE `dbt build` process (cosmos' watcher mode: a producer task in `pool` runs the build,
    each model's task reports its result). The manifest is built at install, in CI and in the image: without it
    the DAG does not parse, rather than take another shape."""
    if not MANIFEST.exists():
        raise ManifestMissing(f"{MANIFEST} is missing: run `make install` (or `python -m pipeline.dbt parse`)")
    from cosmos import ProjectConfig

    project = ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False)
    # A plain local Path, not cosmos' ObjectStoragePath: reading through the latter reports lineage, which loads
    # every Airflow plugin (cosmos' own imports FastAPI) at every parse of the DAG file.
    project.manifest_path = MANIFEST
    with quiet_cosmos_rendering():
        return _dbt_task_group(group_id, as_of, pool, project)


@contextmanager
def quiet_cosmos_rendering():
    """Cosmos warns, when the DAG first imports its operators, that OpenLineage is not installed (we do not use
    it; cosmos has no setting for that hint)."""
    loggers = [logging.getLogger(name) for name in ("cosmos.operators.local",)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _dbt_task_group(group_id: str, as_of: str, pool: str, project):
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=ProfileConfig(**PROFILE, profiles_yml_filepath=PROJECT_DIR / "profiles.yml"),
        # AFTER_EACH, not NONE: with tests not rendered, the watcher's one `dbt build` gets `--resource-type model
        # --resource-type seed --resource-type snapshot`, which leaves out every data test (amount_is_known too).
        # The DAG emits one asset for the published marts, not one per model.
        # Exposures and the on-run-start hook have no task (by design: exposures build nothing, the one build runs
        # the hook, which dbt runs whatever the selection); rendered, cosmos warned of each at every parse.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
            exclude=["resource_type:exposure", "resource_type:operation"],
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,  # dbt in its own process: no DuckDB handle left in the worker
            dbt_executable_path=dbt_executable(),
            setup_operator_args={"pool": pool},  # only the producer (the one dbt process) writes
        ),
        operator_args={
            "install_deps": False,
            "env": {**dbt_env_vars(), AS_OF_ENV: as_of},
            "dbt_cmd_flags": SCHEDULED_BUILD_FLAGS,
            # Not reschedule mode: Airflow's scheduler raced those sensors (apache/airflow#71172: 7-14 of 49 model
            # tasks failed per run while dbt succeeded). Deferrable, should a result not be there yet: the task
            # waits in the triggerer, not in a worker slot.
            "poke_interval": 2,
            "deferrable": True,
        },
    )
    # Each model's task reads its result once the build has finished: the producer goes before the root models.
    # Sensors running beside the build waited in worker slots (poke), raced the scheduler (reschedule), or, under
    # dag.test(), which runs one task at a time, deferred before the build had started and waited forever.
    producer = next(t for t in group.get_roots() if t.task_id.endswith("dbt_producer_watcher"))
    for root in group.get_roots():
        if root is not producer:
            producer >> root
    return group


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
    parser.add_argument("--quiet", action="store_true", help="print dbt's output only when it fails")
    args = parser.parse_args(argv)
    try:
        as_of = instant_text(args.as_of, "--as-of") if args.as_of else None
        run_dbt(args.command, as_of=as_of, full_refresh=args.full_refresh, select=args.select, variables=args.vars,
                quiet=args.quiet)  # fmt: skip
    except InvalidInstant as e:  # --as-of, var as_of in --vars, or DBT_AS_OF in the environment
        parser.error(str(e))
    except DbtFailed as e:
        if args.quiet:  # otherwise dbt's own output above already says why
            print(e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_cli(main)
