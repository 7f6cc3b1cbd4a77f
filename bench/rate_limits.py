"""At the vendors' real rate limits: each vendor's full backfill against the bound its limit sets.

    python -m bench.rate_limits [--scale tiny] [--seed 1]

The sandbox's emulators enforce each vendor's documented limit (a leaky bucket of `bucket_size` requests
draining `leak_per_s`), and our connections say the account's limit as the sandbox serves it (as a real
run's would). Every vendor backfills at once, each in a thread of its own (one credential each, so their
limits do not interact), into a scratch DATA_DIR. Per vendor: the requests the emulator served, the bound
`requests ÷ leak_per_s` (pages needed ÷ allowed request rate) and `share` = bound ÷ wall (the issue's
goal: ≥ 0.9). The bucket's burst lets a short backfill beat the rate, so a share above 1 is possible.
Prints its summary as the last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


def measure(scale: str, seed: int) -> dict:
    from sandbox.__main__ import ensure_generated
    from sandbox.emulators.server import Sandbox
    from sandbox.pull import connections_of

    sim = ensure_generated(scale, seed)
    with tempfile.TemporaryDirectory(prefix="bench-rate-limits-") as scratch:
        os.environ["DATA_DIR"] = scratch
        for name in ("WAREHOUSE_PATH", "LANDING_DIR", "PUBLISHED_DIR", "EXPORTS_DIR"):
            os.environ.pop(name, None)
        with Sandbox(sim, faults="none", rate_limits=True) as box, connections_of(box, unthrottled=False):
            from ingest.extract import extract_vendor

            def backfill(vendor: str) -> float:
                started = time.monotonic()
                extract_vendor(vendor)
                return time.monotonic() - started

            with ThreadPoolExecutor(len(box.vendors)) as pool:
                walls = dict(zip(box.vendors, pool.map(backfill, box.vendors), strict=True))
            stats = box.stats()
            vendors = {}
            for name, vendor in box.vendors.items():
                requests = stats[name]["requests"]
                bound = requests / vendor.leak_per_s
                vendors[name] = {
                    "requests": requests,
                    "throttled_429": stats[name]["throttled_429"],
                    "limit": f"{vendor.bucket_size:g} burst, {vendor.leak_per_s:g}/s",
                    "bound_s": round(bound, 2),
                    "wall_s": round(walls[name], 2),
                    "share": round(bound / walls[name], 3),
                }
    return {"scale": scale, "seed": seed, "min_share": min(v["share"] for v in vendors.values()), "vendors": vendors}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="tiny", choices=["tiny", "demo", "large"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.scale, args.seed)), flush=True)


if __name__ == "__main__":
    main()
