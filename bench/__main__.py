"""`make bench`: time every pipeline stage on the sandbox at one scale, beside two references, in one run.

    python -m bench [--scale demo] [--seed 1] [--skip-dlt] [--stage-timeout S]

Stages (each in its own process, so wall time, CPU time and peak memory are its own; each with a timeout,
after which its process group is killed and the stage recorded as failed): extract + land, load, the
models alone (`dbt run`), full `dbt build`, the quality gates, publish; then the sandbox moves on one day
and the daily run repeats incrementally, with the transform's freshness check (a dbt process too). Each stage
reports its start-up (interpreter and imports, and for dbt its parse: wall minus dbt's own node time) beside its
work. References, on the same data in the same run:
- the engine's limit: `bench/marts_by_hand.sql`, the marts in one hand-written DuckDB script
  (`dbt_models_vs_hand_sql` = `dbt run` ÷ that script; `dbt_build_vs_hand_sql` = models + data tests ÷ it);
- the load's limit: a plain `CREATE TABLE AS` of the same landing files (`load_vs_ctas` = its wall ÷ the
  load's: the load's speed as a share of the engine's copy);
- dbt's floor: the same dbt stages on empty copies of the source tables (`bench/dbt_floor.py`): what dbt costs
  per run and per node whatever the SQL (`dbt_floor` in bench.json);
- a peer loader: dlt (its own venv, `.venv-dlt`) loading the same emulator pages into DuckDB
  (ratio `extract_load_vs_dlt` = our extract + load ÷ dlt's run).
Writes $DATA_DIR/bench/bench.json and bench.md. Ratios travel across noisy machines; seconds do not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import psutil

from sandbox.pull import without_rate_limit
from settings import data_dir

ROOT = Path(__file__).resolve().parent.parent
DLT_PYTHON = ROOT / ".venv-dlt" / "bin" / "python"
GIB = 1024**3
GOALS = {  # the goals (issue 24): (what, limit, how it is compared, the scales it is set for)
    "daily_run_wall_s": ("daily run after one day, extract → publish, wall s", {"demo": 8.0, "large": 30.0}, "<="),
    "dbt_models_vs_hand_sql": ("dbt models only (`dbt run`) ÷ hand-written SQL", 1.5, "<="),
    "dbt_build_vs_hand_sql": ("dbt models + data tests (`dbt build`) ÷ hand-written SQL", 2.5, "<="),
    "gate_vs_dbt_full": ("quality gates ÷ full dbt build", 0.25, "<="),
    "gate_vs_dbt_daily": ("quality gates ÷ daily dbt build", 0.25, "<="),
    "extract_load_vs_dlt": ("our extract + load ÷ dlt", 0.25, "<="),
    "load_vs_ctas": ("load's speed ÷ plain CREATE TABLE AS of the same files", 0.8, ">="),
    "landing_records_per_cpu_s": ("extract + land: records per CPU-second", 40_000, ">="),
    "rate_limit_share": ("backfill at the vendors' rate limits (tiny): bound ÷ wall, the worst vendor", 0.9, ">="),
    "peak_memory_gib": ("peak memory of any stage, GiB (at large)", {"large": 4.0}, "<="),
}
STAGE_TIMEOUT_S = {"tiny": 300, "demo": 600, "large": 3600}  # a stage past this is killed and recorded failed


class Measured(dict):
    """wall_s, cpu_s (the process and every child it waited for), peak_rss_mib (the largest of: the
    biggest single process, and the process tree's summed RSS sampled every 50 ms), plus the stage's
    own summary."""


def measure(name: str, argv: list[str], env: dict[str, str], log: Path, timeout_s: float = 600) -> Measured:
    started = time.monotonic()
    inherited = own_peak_rss()  # Linux starts a child's ru_maxrss at this process's high-water mark (kept at exec)
    with open(log, "w") as out:  # a session of its own: a timeout kills the stage's children (dbt) with it
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    peak_tree = sample_tree_rss(proc.pid)
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    tail = log.read_text(errors="replace").strip().splitlines()
    summary = next((json.loads(line) for line in reversed(tail) if line.startswith("{")), {})
    if proc.returncode != 0:  # a result too (an out-of-memory kill is a finding): recorded, and the run goes on
        killed = proc.returncode == -signal.SIGKILL
        failed = "SIGKILL (the kernel's OOM killer?)" if killed else f"exit {proc.returncode}"
        summary = {"failed": f"timed out after {timeout_s:g} s" if expired.is_set() else failed, "log": str(log)}
    # ru_maxrss (KiB on Linux) is the stage's own peak only above what it inherited: at or below, it is this
    # process's (the bench held 574 MiB after generating demo, and every smaller stage reported exactly that)
    own = usage.ru_maxrss * 1024 if usage.ru_maxrss * 1024 > inherited else 0
    peak = max(own, peak_tree.value)
    m = Measured(
        wall_s=round(wall, 2), cpu_s=round(usage.ru_utime + usage.ru_stime, 2), peak_rss_mib=round(peak / 2**20)
    )
    m.update(summary)
    print(f"  {name:<22} {m['wall_s']:>8.1f} s wall {m['cpu_s']:>8.1f} s CPU {m['peak_rss_mib']:>7,} MiB  {summary}",
          flush=True)  # fmt: skip
    return m


def own_peak_rss() -> int:
    """This process's peak resident set (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class _Peak:
    value = 0


def sample_tree_rss(pid: int) -> _Peak:
    """Sum the RSS of a process and its descendants every 50 ms until it exits (a background thread)."""
    peak = _Peak()

    def run() -> None:
        try:
            root = psutil.Process(pid)
            while root.status() != psutil.STATUS_ZOMBIE:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a child may end between listing and reading
                        total += p.memory_info().rss
                peak.value = max(peak.value, total)
                time.sleep(0.05)
        except psutil.Error:
            pass

    threading.Thread(target=run, daemon=True).start()
    return peak


class Emulators:
    """The sandbox's vendor emulators, each vendor in a process of its own (the vendors' side: not a stage).
    Real vendors are four services: in one process, the four shared one interpreter's lock, and that core,
    not the extract, set the pace (measured in DECISIONLOG.md, Speed). Their clocks start from the same
    manifest and move on together (`control`)."""

    def __init__(self, sim: Path, log: Path):
        from sandbox.emulators.server import VENDORS

        self.procs: dict[str, subprocess.Popen] = {}
        self.connections: dict[str, str] = {}
        with open(log, "w") as err:
            for vendor in VENDORS:
                argv = [sys.executable, "-m", "sandbox.emulators", str(sim), "--vendors", vendor, "--no-rate-limits",
                        "--retention-days", "0"]  # fmt: skip
                self.procs[vendor] = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        for vendor, proc in self.procs.items():
            line = proc.stdout.readline()
            if not line:
                self.stop()
                raise SystemExit(f"the sandbox's {vendor} emulator stopped before serving; see {log}")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            self.connections[name.removeprefix("AIRFLOW_CONN_")] = without_rate_limit(value.strip("'"))

    def control(self, action: str, body: dict | None = None) -> dict:
        """The same control call to every vendor's emulator; their answers (the clock) must agree."""
        answers = []
        for conn in self.connections.values():
            host = json.loads(conn)["host"]
            request = urllib.request.Request(
                f"{host}/__sandbox__/{action}", data=json.dumps(body).encode() if body else None
            )
            with urllib.request.urlopen(request, timeout=30) as r:
                answers.append(json.loads(r.read()))
        if any(a != answers[0] for a in answers):
            raise SystemExit(f"the vendors' emulators disagree after {action}: {answers}")
        return answers[0]

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds each vendor's emulator has used so far (user + system)."""
        times = {vendor: psutil.Process(proc.pid).cpu_times() for vendor, proc in self.procs.items()}
        return {vendor: t.user + t.system for vendor, t in times.items()}

    def peak_rss_mib(self) -> int:
        """The emulators' peak memory together."""
        total = 0
        for proc in self.procs.values():
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) // 1024
        return total

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            proc.wait(60)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("duckdb", "dbt-core", "dbt-duckdb", "apache-airflow", "great-expectations", "astronomer-cosmos"):
        out[dist] = metadata.version(dist)
    if DLT_PYTHON.exists():
        cmd = [str(DLT_PYTHON), "-c", "import dlt, duckdb; print(dlt.__version__, duckdb.__version__)"]
        dlt_version, dlt_duckdb = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        out |= {"dlt": dlt_version, "duckdb (dlt's venv)": dlt_duckdb}
    return out


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())  # fmt: skip
    return {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / GIB, 1), "cpu": model}


def run(scale: str, seed: int, skip_dlt: bool = False, stage_timeout_s: float | None = None) -> dict:
    from sandbox.__main__ import ensure_generated

    sim = ensure_generated(scale, seed)
    out_dir = data_dir() / "bench"
    work = out_dir / "run"  # the bench's own DATA_DIR: a fresh warehouse and landing every time
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env |= {"DATA_DIR": str(work), "FINANCE_INPUTS_DIR": str(sim / "finance"), "PYTHONPATH": str(ROOT)}
    # dbt's artifacts and partial-parse state of the bench's own: tests running dbt in the same checkout meanwhile
    # neither re-parse under it nor overwrite the run_results.json a stage reads
    env |= {"DBT_TARGET_PATH": str(work / "dbt_target"), "DBT_LOG_PATH": str(work / "dbt_logs")}
    for name in ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "EXPORTS_DIR"):
        env.pop(name, None)
    logs = work / "logs"
    stages: dict[str, Measured] = {}

    timeout_s = stage_timeout_s or STAGE_TIMEOUT_S[scale]

    def record(key: str, argv: list[str], stage_env: dict[str, str] | None = None) -> None:
        stages[key] = measure(key, argv, stage_env or env, logs / f"{key}.log", timeout_s)
        # what is measured so far survives a run stopped halfway (a large run takes a while)
        (out_dir / "bench.partial.json").write_text(json.dumps({"scale": scale, "stages": stages}, indent=2))

    def stage(name: str, *args: str, key: str | None = None, stage_env: dict[str, str] | None = None) -> None:
        record(key or name, [sys.executable, "-m", "bench.stage", name, *args], stage_env)

    def extract(key: str) -> None:  # with the vendors' side of it: each emulator's CPU over the stage
        before = emulators.cpu_s()
        stage("extract_land", key=key)
        after = emulators.cpu_s()
        stages[key]["vendor_emulator_cpu_s"] = {vendor: round(after[vendor] - before[vendor], 2) for vendor in after}

    print(f"bench: scale {scale}, seed {seed}; logs in {logs}", flush=True)
    emulators = Emulators(sim, logs / "emulators.log")
    try:
        env |= {f"AIRFLOW_CONN_{k}": v for k, v in emulators.connections.items()}
        as_of = emulators.control("clock")["clock"]
        extract("extract_land")
        stage("load")
        record("ctas_reference", [sys.executable, "-m", "bench.ctas_reference", str(work / "ctas.duckdb")])
        if not skip_dlt:
            record("dlt_reference", [str(DLT_PYTHON), str(ROOT / "bench" / "dlt_reference.py"), "--out",
                                     str(work / "dlt.duckdb")])  # fmt: skip
        stage("dbt_parse")  # not in a ratio: the one full parse a new warehouse path costs
        stage("dbt_models", as_of)
        stage("dbt_full", as_of)
        hand_copy = work / "reference_copy.duckdb"  # the same raw tables in a file of its own (not "hand.duckdb": the
        # script writes schema `hand`, and a catalog of that name would shadow it)
        shutil.copy(work / "warehouse.duckdb", hand_copy)
        record("hand_sql_reference", [sys.executable, "-m", "bench.hand_sql", str(hand_copy), as_of])
        hand_copy.unlink()
        stage("gx_gate")
        stage("publish")

        as_of = emulators.control("advance", {"days": 1})["clock"]
        print(f"bench: the sandbox moved on one day, to {as_of}", flush=True)
        extract("daily_extract_land")
        stage("load", key="daily_load")
        stage("freshness", key="daily_freshness")  # the transform DAG's first task: a dbt process of its own
        stage("dbt_incremental", as_of)
        stage("gx_gate", key="daily_gx_gate")
        stage("publish", key="daily_publish")
        emulator_peak = emulators.peak_rss_mib()
    finally:
        emulators.stop()
    # dbt's floor: the same dbt stages on empty copies of the source tables (a target and warehouse of its own)
    floor = work / "floor.duckdb"
    floor_env = env | {"WAREHOUSE_PATH": str(floor), "DBT_TARGET_PATH": str(work / "dbt_target_floor"),
                       "DBT_LOG_PATH": str(work / "dbt_logs_floor")}  # fmt: skip
    record("dbt_floor_copy", [sys.executable, "-m", "bench.dbt_floor", str(work / "warehouse.duckdb"), str(floor),
                              str(work / "dbt_target" / "manifest.json")])  # fmt: skip
    stage("dbt_parse", key="dbt_floor_parse", stage_env=floor_env)
    stage("dbt_models", as_of, key="dbt_floor_models", stage_env=floor_env)
    stage("dbt_full", as_of, key="dbt_floor_full", stage_env=floor_env)
    stage("dbt_incremental", as_of, key="dbt_floor_daily", stage_env=floor_env)
    # the vendors' real rate limits, on tiny (its own emulators, limits on): not a stage of the daily run
    record("rate_limits", [sys.executable, "-m", "bench.rate_limits", "--scale", "tiny", "--seed", str(seed)])
    result = summarize(scale, seed, stages, emulator_peak)
    (out_dir / "bench.partial.json").unlink(missing_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "bench.md").write_text(markdown(result))
    print(markdown(result), flush=True)
    print(f"bench: wrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'}", flush=True)
    return result


def summarize(scale: str, seed: int, stages: dict[str, Measured], emulator_peak_mib: int) -> dict:
    daily = ("daily_extract_land", "daily_load", "daily_freshness", "dbt_incremental", "daily_gx_gate", "daily_publish")
    ours = [s for s in stages if not s.endswith("_reference") and s != "rate_limits"]

    def wall(*names: str) -> float | None:  # None when a stage is missing or failed: no ratio from half a run
        done = [stages.get(n) for n in names]
        return None if any(s is None or "failed" in s for s in done) else sum(s["wall_s"] for s in done)

    ratios = {
        "dbt_models_vs_hand_sql": ratio(wall("dbt_models"), wall("hand_sql_reference")),
        "dbt_build_vs_hand_sql": ratio(wall("dbt_full"), wall("hand_sql_reference")),
        "gate_vs_dbt_full": ratio(wall("gx_gate"), wall("dbt_full")),
        "gate_vs_dbt_daily": ratio(wall("daily_gx_gate"), wall("dbt_incremental")),
        "extract_load_vs_dlt": ratio(wall("extract_land", "load"), wall("dlt_reference")),
        "load_vs_ctas": ratio(wall("ctas_reference"), wall("load")),
    }
    others = wall(*(s for s in daily if s != "dbt_incremental"))
    # what the same dbt runs cost with no rows: dbt's own per run and per node, which no SQL change removes
    floor = {
        "models_s": wall("dbt_floor_models"),
        "full_build_s": wall("dbt_floor_full"),
        "daily_build_s": wall("dbt_floor_daily"),
        "models_vs_hand_sql": ratio(wall("dbt_floor_models"), wall("hand_sql_reference")),
        "full_build_vs_hand_sql": ratio(wall("dbt_floor_full"), wall("hand_sql_reference")),
        "daily_run_s": None if others is None or wall("dbt_floor_daily") is None else others + wall("dbt_floor_daily"),
    }
    measured = {
        **ratios,
        "daily_run_wall_s": wall(*daily),
        "landing_records_per_cpu_s": per_cpu_s(stages.get("extract_land"), "records"),
        "rate_limit_share": stages.get("rate_limits", {}).get("min_share"),
        "peak_memory_gib": max(stages[s]["peak_rss_mib"] for s in ours) / 1024,
    }
    goals = {}
    for key, (what, limits, op) in GOALS.items():
        value = measured[key]
        limit = limits.get(scale) if isinstance(limits, dict) else limits  # a goal set at some scales only
        met = None if value is None or limit is None else value <= limit if op == "<=" else value >= limit
        goal = f"{op} {limit}" if limit is not None else f"{op} " + ", ".join(f"{v} at {k}" for k, v in limits.items())
        goals[key] = {"what": what, "goal": goal, "measured": rnd(value), "met": met}
    return {
        "scale": scale,
        "seed": seed,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "versions": versions(),
        **{k: rnd(v) for k, v in ratios.items()},
        "daily_run_wall_s": rnd(wall(*daily)),
        "daily_run_stages_s": {s: stages[s]["wall_s"] for s in daily if s in stages},
        "dbt_floor": {k: rnd(v) for k, v in floor.items()},
        "stages": dict(stages),
        "goals": goals,
        "sandbox_emulators_peak_rss_mib": emulator_peak_mib,  # the vendors' side, not ours: shown, not judged
    }


def per_cpu_s(stage: Measured | None, what: str) -> float | None:
    return None if stage is None or "failed" in stage or not stage["cpu_s"] else stage[what] / stage["cpu_s"]


def ratio(ours: float | None, reference: float | None) -> float | None:
    return None if ours is None or not reference else ours / reference


def rnd(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"## Benchmark: scale `{result['scale']}` (seed {result['seed']}), {m['cores']} cores, {m['memory_gib']} GiB,"
        f" {result['measured_at']}",
        "",
        "| stage | wall s | CPU s | peak MiB | summary |",
        "|---|---:|---:|---:|---|",
    ]
    for name, s in result["stages"].items():
        summary = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("wall_s", "cpu_s", "peak_rss_mib")
                            and not isinstance(v, dict))  # fmt: skip
        lines.append(f"| {name} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_rss_mib']:,} | {summary} |")
    daily = ", ".join(f"{k} {v}" for k, v in result["daily_run_stages_s"].items())
    lines += [
        "",
        f"Daily run (extract → publish, after one simulated day): {result['daily_run_wall_s']} s wall ({daily}).",
        "",
    ]
    for key in ("extract_land", "daily_extract_land"):  # the vendors' side of an extract: each emulator's CPU
        if vendors := result["stages"].get(key, {}).get("vendor_emulator_cpu_s"):
            cpu = ", ".join(f"{vendor} {s}" for vendor, s in vendors.items())
            lines += [f"Emulators' CPU s during {key} (the vendors' side, one process each): {cpu}.", ""]
    if (f := result.get("dbt_floor")) and f["models_s"] is not None:
        lines += [
            "dbt's floor (the same dbt stages on empty copies of the source tables: dbt's own cost per run and node):"
            f" models {f['models_s']} s ({f['models_vs_hand_sql']} × the hand-written SQL on the data), full build"
            f" {f['full_build_s']} s ({f['full_build_vs_hand_sql']} ×), daily build {f['daily_build_s']} s; the daily"
            f" run with that build in place of the real one: {f['daily_run_s']} s.",
            "",
        ]
    lines += ["| goal | target | measured | met |", "|---|---|---:|---|"]
    for g in result["goals"].values():
        met = {True: "yes", False: "**no**", None: "not judged at this scale" if g["measured"] else "not measured"}[
            g["met"]
        ]
        lines.append(f"| {g['what']} | {g['goal']} | {g['measured']} | {met} |")
    if vendors := result["stages"].get("rate_limits", {}).get("vendors"):
        lines += [
            "",
            "At the vendors' rate limits (tiny, full backfill; bound = requests ÷ allowed rate):",
            "",
            "| vendor | limit | requests | 429s | bound s | wall s | bound ÷ wall |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {v['limit']} | {v['requests']} | {v['throttled_429']} | {v['bound_s']} | {v['wall_s']}"
            f" | {v['share']} |"
            for name, v in vendors.items()
        ]
    lines += ["", f"Sandbox emulators (the vendors' side, not judged): {result['sandbox_emulators_peak_rss_mib']:,} MiB"
              " peak.", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="demo", choices=["tiny", "demo", "large"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-dlt", action="store_true", help="leave out the dlt reference (no .venv-dlt)")
    parser.add_argument("--stage-timeout", type=float, help="seconds per stage (default: by scale, STAGE_TIMEOUT_S)")
    args = parser.parse_args(argv)
    run(args.scale, args.seed, args.skip_dlt, args.stage_timeout)


if __name__ == "__main__":
    main()
