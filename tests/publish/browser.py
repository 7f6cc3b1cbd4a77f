"""Headless Chromium (Debian's `/usr/bin/chromium`; `make browser` installs it) for the published pages' tests:
the DOM after scripts ran, what the page logged to its console, and a screenshot at a given width."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# No background networking: this machine's network is closed, and Chromium's own calls home would fail and
# retry; a fresh profile per call (user-data-dir) so nothing a previous page left behind is reused.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CONSOLE = re.compile(r":CONSOLE[:(\d)]*\] (.*)")


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (make browser)")
    return browser


def run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        check=True, capture_output=True, timeout=120, text=True,
    )  # fmt: skip


def rendered(url: str, profile: Path, *, width: int) -> tuple[str, list[str]]:
    """The DOM once the page's scripts settled (virtual time), and every message the page wrote to its console
    (console.* calls, uncaught errors, refused loads)."""
    proc = run(
        [f"--window-size={width},900", "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0",
         "--dump-dom", url],
        profile,
    )  # fmt: skip
    return proc.stdout, [m.group(1) for m in CONSOLE.finditer(proc.stderr)]


def screenshot(url: str, profile: Path, png: Path, *, width: int, height: int) -> tuple[int, int]:
    run([f"--window-size={width},{height}", "--virtual-time-budget=10000", f"--screenshot={png}", url], profile)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def visible_text(dom: str) -> str:
    """The text a reader sees: scripts, styles and tags removed, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """The folder on a loopback HTTP server (as a web server or `python -m http.server` would serve the published
    folder): the dbt docs page loads its icons by URL, which browsers refuse from file://."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the test's output is the assertions, not an access log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
