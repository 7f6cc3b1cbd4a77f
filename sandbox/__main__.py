"""Command line of the sandbox: generate, answer-key, serve, demo, up.

python -m sandbox generate    --scale tiny --seed 1 [--out DIR] [--force]
python -m sandbox answer-key  --scale tiny --seed 1 --out DIR [--advance-days N]
python -m sandbox serve       --scale demo --seed 1 [--faults none|light|heavy] [--rate-limits on|off]
python -m sandbox demo        --scale demo --seed 1
python -m sandbox up          --scale demo --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from sandbox.company import SCALES
from settings import data_dir


def simulation_dir(scale: str, seed: int) -> Path:
    return data_dir() / "sandbox" / f"{scale}-{seed}"


# Paths that default to a place under DATA_DIR; a value set for a real pipeline would be shared with the demo.
DERIVED_PATHS = ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "EXPORTS_DIR", "AIRFLOW_HOME",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")  # fmt: skip


def demo_data_dir(scale: str, seed: int) -> Path:
    """The demo's own folder (warehouse, landing, published, Airflow home): a demo at another scale or seed,
    or a real pipeline in $DATA_DIR, keeps its own data, so no run extracts from another world's watermarks
    or publishes another world's rows."""
    return data_dir() / f"demo-{scale}-{seed}"


def use_demo_data_dir(scale: str, seed: int) -> Path:
    """Point this process's paths at demo_data_dir (the sandbox's generated company stays shared: it is a
    pure function of scale and seed)."""
    folder = demo_data_dir(scale, seed)
    os.environ["DATA_DIR"] = str(folder)
    for name in DERIVED_PATHS:
        os.environ.pop(name, None)
    return folder


def ensure_generated(scale: str, seed: int, out: Path | None = None, force: bool = False) -> Path:
    """Generate once: the output is a pure function of (scale, seed), so an existing folder is reused."""
    from sandbox.simulate import generate

    out = out or simulation_dir(scale, seed)
    manifest = out / "manifest.json"
    if manifest.exists() and not force:
        return out
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    started = time.monotonic()
    print(f"generating scale={scale} seed={seed} ...", file=sys.stderr, flush=True)
    result = generate(scale, seed, tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)  # a half-generated folder is never mistaken for a finished one
    rows = sum(result["rows"].values())
    print(f"generated {rows:,} rows in {time.monotonic() - started:.1f} s -> {out}", file=sys.stderr, flush=True)
    return out


def cmd_generate(args: argparse.Namespace) -> None:
    out = ensure_generated(args.scale, args.seed, Path(args.out) if args.out else None, args.force)
    print(json.dumps(json.loads((out / "manifest.json").read_text())["rows"], indent=2))


def cmd_answer_key(args: argparse.Namespace) -> None:
    from sandbox.answer_key import AnswerKey, write
    from sandbox.calendar import DAY

    sim = ensure_generated(args.scale, args.seed)
    clock = json.loads((sim / "manifest.json").read_text())["clock_us"]
    key = AnswerKey(sim, as_of=clock + int(args.advance_days * DAY))
    write(key.marts(), Path(args.out))
    print(f"answer key written to {args.out}")


def cmd_serve(args: argparse.Namespace) -> None:
    from sandbox.emulators.server import VENDORS, serve

    sim = ensure_generated(args.scale, args.seed)
    ports = dict(zip(VENDORS, (int(p) for p in args.ports.split(",")), strict=True)) if args.ports else None
    serve(
        sim,
        faults=args.faults,
        rate_limits=args.rate_limits == "on",
        recharge_retention_days=args.recharge_retention_days,
        recharge_withheld_order_months=tuple(m for m in args.recharge_withheld_order_months.split(",") if m),
        host=args.host,
        public_host=args.public_host,
        ports=ports,
        api_key=os.environ.get("SANDBOX_API_KEY") or None,  # never on a command line
    )


def cmd_up(args: argparse.Namespace) -> None:
    from sandbox.up import up

    sim = ensure_generated(args.scale, args.seed)
    use_demo_data_dir(args.scale, args.seed)
    up(sim)


def cmd_demo(args: argparse.Namespace) -> None:
    from sandbox.demo import run_demo

    sim = ensure_generated(args.scale, args.seed)
    print(f"demo data folder: {use_demo_data_dir(args.scale, args.seed)}", flush=True)
    run_demo(sim)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def scaled(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--scale", choices=sorted(SCALES), default="tiny")
        p.add_argument("--seed", type=int, default=1)
        return p

    p = scaled("generate", "simulate the company into canonical tables (deterministic)")
    p.add_argument("--out", help="folder (default $DATA_DIR/sandbox/<scale>-<seed>)")
    p.add_argument("--force", action="store_true", help="regenerate even if the folder exists")
    p.set_defaults(func=cmd_generate)

    p = scaled("answer-key", "write the expected content of every mart as CSV")
    p.add_argument("--out", required=True)
    p.add_argument("--advance-days", type=float, default=0.0, help="as of the initial clock + this many days")
    p.set_defaults(func=cmd_answer_key)

    p = scaled("serve", "serve the four vendor APIs on 127.0.0.1 and print the AIRFLOW_CONN_* lines")
    p.add_argument("--faults", choices=["none", "light", "heavy"], default="none")
    p.add_argument("--rate-limits", choices=["on", "off"], default="on")
    p.add_argument(
        "--recharge-retention-days",
        type=int,
        default=90,
        help="Recharge hides successful charges processed longer ago than this (0 = never)",
    )
    p.add_argument(
        "--recharge-withheld-order-months",
        default="",
        help="YYYY-MM[,...]: Recharge orders scheduled in these months (UTC) are not served either (§5 source history)",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0 inside a container network)")
    p.add_argument("--public-host", help="host name clients use, in the printed connections (default: --host)")
    p.add_argument("--ports", help="gorgias,recharge,shopify,easypost ports (default: free ports)")
    p.set_defaults(func=cmd_serve)

    p = scaled("demo", "the whole pipeline through its DAGs against the emulators; show the marts")
    p.set_defaults(func=cmd_demo)
    p = scaled("up", "Airflow (scheduler, DAG processor, triggerer, API server) on 127.0.0.1, the emulators behind")
    p.set_defaults(func=cmd_up)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
