"""The Sandbox: the four vendor emulators over one simulated dataset, sharing one clock.

    with Sandbox(folder, faults="light") as sb:
        conns = sb.connections()   # {"gorgias_default": '{"conn_type": "http", ...}', ...}
        sb.advance(3600)           # the vendors' world moves on

Or from a shell (prints `export AIRFLOW_CONN_...` lines, then serves until Ctrl-C):

    python -m sandbox.emulators /tmp/em/tiny-1 --faults light
"""

from __future__ import annotations

import argparse
import gc
import json
import secrets
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from sandbox.emulators.easypost import EasyPost
from sandbox.emulators.gorgias import Gorgias
from sandbox.emulators.http import Control, Drift, EmulatorServer, Vendor, VendorApp
from sandbox.emulators.recharge import Recharge
from sandbox.emulators.shopify import Shopify

VENDORS = ("gorgias", "recharge", "shopify", "easypost")
_GC = {"running": 0, "saved": gc.get_threshold()}
_GC_LOCK = threading.Lock()


def _gc_tuning(delta: int) -> None:
    """While sandboxes run, park loaded data outside the collector and collect the young generation less
    often (rendering allocates many short-lived objects: pages come ~1.5x faster). The last stop restores."""
    with _GC_LOCK:
        if _GC["running"] == 0 and delta > 0:
            _GC["saved"] = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(50_000, *_GC["saved"][1:])
        _GC["running"] += delta
        if _GC["running"] == 0:
            gc.set_threshold(*_GC["saved"])
            gc.unfreeze()  # frozen objects are never freed: native bindings would report them leaked at exit


class Sandbox:
    def __init__(
        self,
        folder: Path | str,
        faults: str = "none",
        rate_limits: bool = True,
        ports: dict[str, int] | None = None,
        recharge_retention_days: int = 90,
        recharge_withheld_order_months: tuple[str, ...] = (),
        slow_seconds: float = 2.0,
        seed: int = 0,
        load_threads: int = 2,
        host: str = "127.0.0.1",
        public_host: str | None = None,
        api_key: str | None = None,
        vendors: tuple[str, ...] = VENDORS,
    ):
        """`host` is the interface to bind (loopback unless a container network needs 0.0.0.0);
        `public_host` the name clients use in the printed connections; `api_key` fixes every vendor's
        credential (docker compose's demo), else each run makes up its own. `vendors`: the emulators this
        sandbox serves (the bench runs each vendor in a process of its own, as real vendors are separate
        services, not one Python interpreter; their clocks start from the same manifest)."""
        if unknown := set(vendors) - set(VENDORS):
            raise ValueError(f"unknown vendors {sorted(unknown)}; the emulators are {', '.join(VENDORS)}")
        self.folder = Path(folder)
        self.host, self.public_host = host, public_host or ("127.0.0.1" if host in ("0.0.0.0", "") else host)
        key = api_key or None
        manifest = json.loads((self.folder / "manifest.json").read_text())
        # what the pipeline records as the source of the records it loads (the port changes every run); a
        # hand-built world (tests) has no scale or seed: its folder names it
        self.identity = (f"sandbox scale={manifest['scale']} seed={manifest['seed']}" if "scale" in manifest
                         else f"sandbox folder {self.folder.resolve()}")  # fmt: skip
        self.control = Control(int(manifest["clock_us"]), faults, rate_limits, slow_seconds)
        makers = {
            "gorgias": lambda: Gorgias(self.folder, key or secrets.token_hex(20)),
            "recharge": lambda: Recharge(
                self.folder,
                key or "sk_" + secrets.token_hex(24),
                recharge_retention_days,
                recharge_withheld_order_months,
            ),
            "shopify": lambda: Shopify(self.folder, key or "shpat_" + secrets.token_hex(16), client_secret=key),
            "easypost": lambda: EasyPost(self.folder, key or "EZAK" + secrets.token_hex(24)),
        }
        # Loading and sorting mostly release the GIL; two at a time bounds the memory peak at 'large' scale.
        with ThreadPoolExecutor(load_threads) as pool:
            futures = {name: pool.submit(makers[name]) for name in VENDORS if name in vendors}
            self.vendors: dict[str, Vendor] = {name: f.result() for name, f in futures.items()}
        pa.default_memory_pool().release_unused()
        self.apps = {name: VendorApp(v, self.control, seed) for name, v in self.vendors.items()}
        if "shopify" in self.vendors:
            self.vendors["shopify"].rate_limits = lambda: self.control.rate_limits  # GraphQL's cost bucket too
        self.ports = dict(ports or {})
        self.servers: dict[str, EmulatorServer] = {}
        self._threads: list[threading.Thread] = []
        self._running = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        _gc_tuning(+1)
        self._running = True
        for name in self.vendors:
            srv = EmulatorServer(self.apps[name], self.ports.get(name, 0), self.host)
            self.servers[name] = srv
            t = threading.Thread(
                target=srv.serve_forever, kwargs={"poll_interval": 0.1}, name=f"emulator-{name}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.shutdown()
            srv.close_all()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        for v in self.vendors.values():
            v.close()
        self.servers, self._threads = {}, []
        if self._running:
            self._running = False
            _gc_tuning(-1)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ access
    @property
    def urls(self) -> dict[str, str]:
        return {name: f"http://{self.public_host}:{srv.port}" for name, srv in self.servers.items()}

    def connections(self) -> dict[str, str]:
        """Airflow JSON connections, keyed by conn id (`gorgias_default`, ...)."""
        out = {}
        for name in self.vendors:
            conn = {"conn_type": "http", "host": self.urls[name], **self.vendors[name].credentials()}
            conn["extra"] = {**conn.get("extra", {}), "source_identity": self.identity}
            out[f"{name}_default"] = json.dumps(conn)
        return out

    # ------------------------------------------------------------------ control
    @property
    def clock_us(self) -> int:
        return self.control.clock_us

    def advance(self, seconds: float) -> int:
        return self.control.advance(seconds)

    def set_faults(self, mode: str) -> None:
        """Switch the fault mode; fault draws restart from the seed and pending injections are dropped."""
        self.control.set_faults(mode)

    def set_rate_limits(self, enabled: bool) -> None:
        self.control.rate_limits = enabled

    def inject(self, vendor: str, kind: str, count: int = 1) -> None:
        """Force the next `count` data requests of a vendor to fail with one fault kind (tests)."""
        self.apps[vendor].inject(kind, count)

    def drift(self, vendor: str, route: str, change: str, field: str, records: int = 0, value: object = None) -> Drift:
        """The next page of `route` ships a schema change (tests); the returned Drift lists the ids it hit."""
        return self.apps[vendor].drift(Drift(route, change, field, records, value))

    def stats(self) -> dict[str, dict]:
        return {name: app.stats.snapshot() for name, app in self.apps.items()}

    def reset_stats(self) -> None:
        for app in self.apps.values():
            app.stats.reset()


def serve(folder: Path | str, **opts: object) -> None:
    """Start a Sandbox, print the Airflow connection exports, and serve until SIGINT/SIGTERM."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    sb = Sandbox(folder, **opts).start()
    try:
        for conn_id, conn in sb.connections().items():
            print(f"export AIRFLOW_CONN_{conn_id.upper()}='{conn}'")
        sys.stdout.flush()
        stop.wait()
    finally:
        sb.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve the vendor emulators over a simulated dataset.")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--faults", default="none", choices=["none", "light", "heavy"])
    ap.add_argument("--no-rate-limits", action="store_true")
    ap.add_argument("--retention-days", type=int, default=90, help="Recharge charge retention (0 = off)")
    ap.add_argument("--slow-seconds", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vendors", default=",".join(VENDORS), help="the emulators to serve, e.g. shopify,easypost")
    ap.add_argument("--ports", default="", help="gorgias,recharge,shopify,easypost ports, e.g. 8101,8102,8103,8104")
    a = ap.parse_args(argv)
    ports = dict(zip(VENDORS, (int(p) for p in a.ports.split(",")), strict=False)) if a.ports else None
    serve(
        a.folder,
        faults=a.faults,
        rate_limits=not a.no_rate_limits,
        ports=ports,
        recharge_retention_days=a.retention_days,
        slow_seconds=a.slow_seconds,
        seed=a.seed,
        vendors=tuple(v for v in a.vendors.split(",") if v),
    )


if __name__ == "__main__":
    main()
