"""Airflow as a real deployment runs it: scheduler, DAG processor, triggerer and API server, each its own
process, on the LocalExecutor with a small parallelism. `make up` and the real-scheduler test start them
here; both drive them through the REST API v2 (JWT from the simple auth manager).

Why not `airflow standalone`: it keeps Airflow's default parallelism (32 worker processes on this 2-core
machine) and its processes died on "database is locked" after a few transform runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.airflow_local import DAGS, REPO, settings

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
ADMIN = "admin"


def service_env(home: Path, port: int) -> dict[str, str]:
    """The environment of every Airflow process (the one place for the deployment's Airflow settings)."""
    env = dict(os.environ)
    env.update(settings(home))
    env.update(
        {
            # 2 worker processes: the DuckDB tasks run one at a time anyway (the 1-slot writer pool); more
            # workers only contend for SQLite's single write lock and the 2 cores
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "2"),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
            "AIRFLOW__TRIGGERER__CAPACITY": "100",
            # the scheduler waits this long for SQLite's lock instead of dying on "database is locked"
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "pipeline.airflow_services.SQLITE_CONNECT_ARGS",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(DAGS)]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    return env


SQLITE_CONNECT_ARGS = {"timeout": 60}


GRACE_SECONDS = 10  # a component's graceful shutdown, before its remaining processes get SIGKILL


def _prctl(option: int, arg: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, arg)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc's parent links), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            child = int(stat.parent.name)
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(child)
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, [])]
        found += frontier
    return found


def _end_descendants(grace: float) -> None:
    """SIGTERM to every process below this one, SIGKILL to those left after `grace` seconds; reaps them all
    (as the subreaper, this process inherits the orphans)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            if not descendants(os.getpid()):
                return
            time.sleep(0.1)


def guard(command: list[str]) -> int:
    """Run one Airflow component and take every process it starts down with it.

    Its own session (no terminal's Ctrl-C reaches the components half-way) and the subreaper of all it starts:
    Airflow's task processes call setsid and outlive the worker that forked them, so neither a process group
    nor PR_SET_PDEATHSIG (sent to the component alone, on the death of the parent *thread*) ends them all.
    It ends them when the component exits, on SIGTERM (`Services.stop`), or when the process that started
    it dies in any way, even SIGKILL: then its stdin, a pipe that process held open, reads EOF."""
    os.setsid()
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG as well: the parent's death is seen at once
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop.set()), daemon=True).start()
    component = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    while not stop.is_set() and component.poll() is None:
        stop.wait(0.5)
    _end_descendants(GRACE_SECONDS)
    return component.returncode if component.poll() is not None else -signal.SIGTERM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Services:
    """Start the four Airflow processes under `home` (a context manager); `api` talks to the REST API."""

    def __init__(self, home: Path, port: int | None = None, log_dir: Path | None = None):
        self.home, self.port = Path(home), port or free_port()
        self.log_dir = Path(log_dir or self.home / "services")
        self.env = service_env(self.home, self.port)
        self.procs: dict[str, subprocess.Popen] = {}
        self._token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def command(*args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("airflow")), *args]

    def airflow(self, *args: str) -> None:
        subprocess.run(self.command(*args), env=self.env, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> Services:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        self.airflow("pools", "set", "duckdb_writer", "1", "DuckDB single writer")
        for name in COMPONENTS:
            out = (self.log_dir / f"{name}.log").open("ab")
            # stdin: the guard's lifeline, a pipe this process holds open until it stops or dies
            command = [sys.executable, "-m", "pipeline.airflow_services", "guard", *self.command(name)]
            self.procs[name] = subprocess.Popen(
                command, env=self.env, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_healthy()
        self.password_file.chmod(0o600)  # the API server writes it world-readable
        return self

    def dead(self) -> dict[str, int]:
        """Components that exited, with their exit codes."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if dead := self.dead():
                raise RuntimeError(f"Airflow components exited: {dead} (logs in {self.log_dir})")
            try:
                health = self.request("GET", "/api/v2/monitor/health", auth=False)
                if all(v.get("status") == "healthy" for k, v in health.items() if k != "dag_processor" or v):
                    return
            except (OSError, RuntimeError):  # not listening yet, or not ready (503)
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s (logs in {self.log_dir})")
            time.sleep(1)

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 180) -> None:
        """Until the DAG processor has serialised every one of `dag_ids` (none can be triggered before)."""
        deadline = time.monotonic() + timeout
        while True:
            known = {d["dag_id"] for d in self.request("GET", "/api/v2/dags?limit=100")["dags"]}
            if dag_ids <= known:
                return
            if dead := self.dead():
                raise RuntimeError(f"Airflow components exited: {dead} (logs in {self.log_dir})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs {sorted(dag_ids - known)} not parsed after {timeout:.0f} s")
            time.sleep(1)

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def password(self) -> str:
        return json.loads(self.password_file.read_text())[ADMIN]

    def token(self) -> str:
        if self._token is None:
            answer = self.request("POST", "/auth/token", {"username": ADMIN, "password": self.password()}, auth=False)
            self._token = answer["access_token"]
        return self._token

    def request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as e:  # say why (FastAPI's detail), not only the status
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:500].decode(errors='replace')}") from e
        return json.loads(text) if text else {}

    def stop(self) -> None:
        """Each guard ends its component and everything it started (SIGTERM, then SIGKILL after a grace)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=GRACE_SECONDS + 20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdin:
                p.stdin.close()

    def __enter__(self) -> Services:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # python -m pipeline.airflow_services guard <command>...: see guard()
    if sys.argv[1:2] != ["guard"] or len(sys.argv) < 3:
        sys.exit("usage: python -m pipeline.airflow_services guard <command>...")
    sys.exit(guard(sys.argv[2:]))
