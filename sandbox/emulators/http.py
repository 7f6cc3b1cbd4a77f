"""HTTP plumbing shared by the emulators: routing, auth hooks, JSON responses, the leaky-bucket rate
limiter, fault injection, request statistics and the /__sandbox__/ control endpoints.

A vendor module declares a `Vendor` subclass (routes, auth check, error shape, throttling signals);
`VendorApp` runs every request through the same pipeline:
route -> auth -> rate limit -> fault draw -> handler -> post-faults -> call-limit headers -> stats.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import socket
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from sandbox.calendar import DAY, US
from sandbox.emulators.engine import BadParam, fmt_ts

FAULT_KINDS = ("5xx", "429", "slow", "truncated", "html", "repeat")
FORCED_ONLY_KINDS = ("401",)  # injected by tests only (a credential rotated mid-run), never drawn at random
FAULT_RATES = {"none": 0.0, "light": 0.02, "heavy": 0.08}  # probability per kind per data request
MAX_CONSECUTIVE_FAULTS = 3  # per path, so a retrying client always finishes
DRIFTS = ("new_field", "missing_field", "type_change")  # schema drift a vendor ships without notice (tests)


@dataclass
class Drift:
    """The next successful page of a route changes shape: `field` is added, dropped or given another
    type in its first `records` records (0 = all)."""

    route: str  # the end of the route pattern, e.g. "/api/tickets" (its list, not "/api/tickets/{id}")
    change: str
    field: str
    records: int = 0
    value: object = None  # new_field / type_change: the value put there
    applied_to: list = field(default_factory=list)  # ids of the records it changed

    def apply(self, body: bytes) -> bytes:
        doc = json.loads(body)
        records = next(v for v in doc.values() if isinstance(v, list))
        for rec in records[: self.records or None]:
            if self.change == "missing_field":
                rec.pop(self.field, None)
            else:
                rec[self.field] = self.value
            self.applied_to.append(rec.get("id"))
        return json.dumps(doc).encode()


REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable Entity",
    426: "Upgrade Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
HTML_BODY = (
    b"<!DOCTYPE html>\n<html><head><title>Service temporarily unavailable</title></head>"
    b"<body><h1>We'll be right back</h1><p>The service is under maintenance.</p></body></html>\n"
)


# ---------------------------------------------------------------------------- requests and responses
@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]  # repeated keys are joined with ","
    headers: Message
    body: bytes
    base_url: str  # scheme://host:port the client used, for absolute links
    clock: int  # sandbox clock (µs) when the request arrived
    query: str = ""
    rewind: int = 0  # > 0: the repeated-records fault asks a cursor page to start this many rows early
    rewound: bool = False  # set by the handler when it applied `rewind`
    scopes: tuple[str, ...] | None = None  # what the request's credential may read (Shopify's access scopes)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def basic_auth(self) -> tuple[str, str] | None:
        h = self.header("Authorization") or ""
        if not h.lower().startswith("basic "):
            return None
        try:
            user, _, pw = base64.b64decode(h[6:].strip()).decode().partition(":")
        except ValueError:
            return None
        return user, pw


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json; charset=utf-8"
    file: Path | None = None  # the body is this file, streamed from disk (a bulk file of GBs), not `body`


class Raw:
    """Ready JSON text to embed in a response (records rendered by engine templates)."""

    def __init__(self, text: str):
        self.text = text

    @classmethod
    def items(cls, texts: list[str]) -> Raw:
        return cls("[" + ",".join(texts) + "]")


def json_response(obj: object, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    """JSON body (compact, ASCII-escaped: the C encoder's fastest path); Raw values are spliced in."""
    raws: list[str] = []

    def splice(o: object) -> str:
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"\x00raw{len(raws) - 1}\x00"
        raise TypeError(f"not JSON serializable: {type(o).__name__}")

    text = json.dumps(obj, separators=(",", ":"), default=splice)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"', raw, 1)
    return Response(status, text.encode(), list(headers or []))


def int_id(raw: str) -> int:
    """A numeric id from a path; anything else is simply not found."""
    try:
        return int(raw)
    except ValueError as e:
        raise ApiError(404, "Not Found") from e


class ApiError(Exception):
    """Raised by a handler; the vendor shapes it into its own error body."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def parse_limit(params: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError as e:
        raise BadParam(name, "must be an integer") from e
    if not 1 <= n <= maximum:
        raise BadParam(name, f"must be between 1 and {maximum}")
    return n


# ---------------------------------------------------------------------------- vendors
HandlerFn = Callable[[Request, dict[str, str]], Response]  # (request, path parameters) -> response


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # "/api/tickets/{id}"; also the key of per-path stats
    handler: HandlerFn

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        m = _compile(self.pattern).fullmatch(path)
        return m.groupdict() if m else None


_PATTERNS: dict[str, re.Pattern] = {}


def _compile(pattern: str) -> re.Pattern:
    got = _PATTERNS.get(pattern)
    if got is None:
        rx = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", re.escape(pattern))
        got = _PATTERNS[pattern] = re.compile(rx)
    return got


class Vendor:
    """What a vendor module declares; the pipeline lives in VendorApp."""

    name = ""
    bucket_size = 40.0  # leaky bucket capacity (requests)
    leak_per_s = 2.0  # drain rate
    window_s = 20.0  # the limit period, for the max-requests-per-window statistic
    bad_param_status = 400

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def authenticate(self, req: Request) -> Response | None:
        """None when the request may proceed, else the vendor's 401 (or other refusal)."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> Response:
        return json_response({"errors": message}, status)

    def throttled(self, retry_after: float) -> Response:
        """The vendor's 429; `retry_after` = seconds until the bucket has room."""
        return self.error(429, "Too many requests")

    def limit_headers(self, used: int) -> list[tuple[str, str]]:
        """Headers on every response (call-limit counters)."""
        return []

    def credentials(self) -> dict:
        """Airflow connection fields for this vendor."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        return []

    def close(self) -> None:
        """Release what the vendor holds beyond memory (files on disk) when the sandbox stops."""


class LeakyBucket:
    def __init__(self, size: float, leak_per_s: float):
        self.size, self.leak = size, leak_per_s
        self.level, self.last = 0.0, time.monotonic()
        self.lock = threading.Lock()

    def _drain(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.last) * self.leak)
        self.last = now

    def take(self, now: float, enforce: bool) -> tuple[bool, float]:
        """(admitted, retry_after_seconds). With enforcement off nothing fills the bucket."""
        with self.lock:
            self._drain(now)
            if not enforce:
                return True, 0.0
            if self.level + 1 > self.size:
                return False, (self.level + 1 - self.size) / self.leak
            self.level += 1
            return True, 0.0

    def used(self, now: float) -> int:
        with self.lock:
            self._drain(now)
            return min(int(self.size), max(1, int(self.level + 0.999)))

    def reset(self) -> None:
        with self.lock:
            self.level, self.last = 0.0, time.monotonic()


class Faults:
    """Seeded per-vendor fault draws; forced faults (tests) come first."""

    def __init__(self, seed: str):
        self.seed = seed
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.rng = random.Random(self.seed)
            self.streak: dict[str, int] = {}
            self.burst: dict[str, int] = {}
            self.forced: deque[str] = deque()

    def draw(self, path: str, mode: str) -> tuple[str | None, bool]:
        with self.lock:
            if self.forced:
                return self.forced.popleft(), True
            if self.streak.get(path, 0) >= MAX_CONSECUTIVE_FAULTS:
                return None, False
            if self.burst.get(path):  # a 429 run continues on the client's retries
                self.burst[path] -= 1
                return "429", False
            p = FAULT_RATES[mode]
            if not p:
                return None, False
            u = self.rng.random()
            if u >= p * len(FAULT_KINDS):
                return None, False
            kind = FAULT_KINDS[int(u / p)]
            if kind == "429":
                self.burst[path] = self.rng.randint(1, 2)
            return kind, False

    def pick(self, choices: list) -> object:
        with self.lock:
            return self.rng.choice(choices)

    def settle(self, path: str, kind: str | None, forced: bool) -> None:
        with self.lock:
            if kind is None:
                self.streak[path] = 0
                self.burst.pop(path, None)
            elif not forced:
                self.streak[path] = self.streak.get(path, 0) + 1

    def requeue(self, kind: str) -> None:
        with self.lock:
            self.forced.appendleft(kind)


class Stats:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.paths: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.throttled = 0
            self.recent: deque[float] = deque()
            self.max_in_window = 0

    def arrive(self, now: float, path: str) -> None:
        with self.lock:
            self.requests += 1
            self.paths[path] += 1
            self.recent.append(now)
            while self.recent and self.recent[0] <= now - self.window_s:
                self.recent.popleft()
            self.max_in_window = max(self.max_in_window, len(self.recent))

    def done(self, status: int, fault: str | None) -> None:
        with self.lock:
            self.statuses[str(status)] += 1
            self.throttled += status == 429
            if fault:
                self.faults[fault] += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "paths": dict(self.paths),
                "statuses": dict(self.statuses),
                "throttled_429": self.throttled,
                "faults": dict(self.faults),
                "window_seconds": self.window_s,
                "max_requests_in_window": self.max_in_window,
            }


class Control:
    """State shared by all emulators of one sandbox: the clock, fault mode, rate-limit switch."""

    def __init__(self, clock_us: int, faults: str, rate_limits: bool, slow_seconds: float):
        if faults not in FAULT_RATES:
            raise ValueError(f"faults must be one of {sorted(FAULT_RATES)}")
        self.lock = threading.Lock()
        self._clock = clock_us
        self.fault_mode = faults
        self.rate_limits = rate_limits
        self.slow_seconds = slow_seconds
        self.apps: dict[str, VendorApp] = {}

    @property
    def clock_us(self) -> int:
        return self._clock

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._clock += round(seconds * US)
            return self._clock

    def set_faults(self, mode: str) -> None:
        """A new mode restarts every vendor's fault draws from the seed (reproducible from here)."""
        if mode not in FAULT_RATES:
            raise ValueError(f"faults must be one of {sorted(FAULT_RATES)}")
        self.fault_mode = mode
        for app in self.apps.values():
            app.faults.reset()

    def clock_json(self) -> dict:
        return {"clock_us": self._clock, "clock": fmt_ts(self._clock, "Z")}

    def handle(self, app: VendorApp, method: str, path: str, body: bytes) -> Response:
        """The /__sandbox__/ endpoints (no auth, not counted in stats)."""
        try:
            data = json.loads(body or b"{}")
            action = path[len("/__sandbox__/") :].strip("/")
            if method == "GET" and action == "clock":
                return json_response(self.clock_json())
            if method == "GET" and action == "stats":
                return json_response({name: a.stats.snapshot() for name, a in self.apps.items()})
            if method != "POST":
                return json_response({"error": "not found"}, 404)
            if action == "advance":
                self.advance(float(data.get("seconds", 0)) + float(data.get("days", 0)) * DAY / US)
                return json_response(self.clock_json())
            if action == "faults":
                self.set_faults(data["mode"])
                return json_response({"mode": self.fault_mode})
            if action == "rate-limits":
                self.rate_limits = bool(data["enabled"])
                return json_response({"enabled": self.rate_limits})
            if action == "reset-stats":
                for a in self.apps.values():
                    a.stats.reset()
                return json_response({"ok": True})
            if action == "inject":
                target = self.apps[data.get("vendor", app.vendor.name)]
                target.inject(data["kind"], int(data.get("count", 1)))
                return json_response({"ok": True})
        except (ValueError, KeyError, TypeError) as e:
            return json_response({"error": str(e)}, 400)
        return json_response({"error": "not found"}, 404)


class VendorApp:
    """One vendor's runtime: its bucket, faults and stats, and the request pipeline."""

    def __init__(self, vendor: Vendor, control: Control, seed: int):
        self.vendor = vendor
        self.control = control
        self.bucket = LeakyBucket(vendor.bucket_size, vendor.leak_per_s)
        self.faults = Faults(f"{seed}:{vendor.name}")
        self.stats = Stats(vendor.window_s)
        self.drifts: deque[Drift] = deque()
        control.apps[vendor.name] = self

    def drift(self, drift: Drift) -> Drift:
        if drift.change not in DRIFTS:
            raise ValueError(f"drift must be one of {DRIFTS}")
        self.drifts.append(drift)
        return drift

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in FAULT_KINDS + FORCED_ONLY_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS + FORCED_ONLY_KINDS}")
        for _ in range(count):
            self.faults.forced.append(kind)

    def handle(
        self, method: str, target: str, headers: Message, body: bytes, base_url: str
    ) -> tuple[Response, str | None]:
        """Returns the response and the fault the transport must apply (slow, truncated) if any."""
        url = urlsplit(target)
        if url.path.startswith("/__sandbox__/"):
            return self.control.handle(self, method, url.path, body), None
        now = time.monotonic()
        route, match = next(
            ((r, m) for r in self.vendor.routes if (m := r.match(method, url.path)) is not None), (None, None)
        )
        key = route.pattern if route else "(unknown)"
        self.stats.arrive(now, key)
        params: dict[str, str] = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        req = Request(method, url.path, params, headers, body, base_url, self.control.clock_us, url.query)
        resp = self.vendor.authenticate(req)
        kind: str | None = None
        if resp is None and route is None:
            resp = self.vendor.error(404, "Not Found")
        if resp is None:
            ok, retry = self.bucket.take(now, self.control.rate_limits)
            if not ok:
                resp = self.vendor.throttled(retry)
        if resp is None:
            resp, kind = self._serve(route, req, match, key)
        resp.headers += self.vendor.limit_headers(self.bucket.used(now))
        self.stats.done(resp.status, kind)
        return resp, kind if kind in ("slow", "truncated") else None

    def _serve(self, route: Route, req: Request, match: dict[str, str], key: str) -> tuple[Response, str | None]:
        """The handler's response with this request's fault (if one is drawn) applied or flagged."""
        kind, forced = self.faults.draw(key, self.control.fault_mode)
        if kind == "5xx":
            status = self.faults.pick([500, 502, 503])
            resp = self.vendor.error(status, REASONS[status])
        elif kind == "429":
            resp = self.vendor.throttled(1.0)
        elif kind == "401":
            resp = self.vendor.error(401, REASONS[401])
        else:
            if kind == "repeat":
                req.rewind = self.faults.pick([1, 2, 3, 4, 5])
            resp = self._call(route, req, match)
            if kind == "repeat" and not req.rewound:  # not a cursor page: nothing to repeat
                if forced:
                    self.faults.requeue(kind)
                kind = None
            elif kind == "html":  # a proxy's maintenance page instead of the JSON (successes only)
                if resp.status == 200:
                    resp = Response(200, HTML_BODY, content_type="text/html; charset=utf-8")
                else:
                    kind = None
            if resp.status == 200 and kind != "html" and resp.file is None and self.drifts:
                drift = next((d for d in self.drifts if key.endswith(d.route)), None)
                if drift is not None:
                    self.drifts.remove(drift)
                    resp.body = drift.apply(resp.body)
        self.faults.settle(key, kind, forced)
        return resp, kind

    def _call(self, route: Route, req: Request, match: dict[str, str]) -> Response:
        try:
            return route.handler(req, match)
        except ApiError as e:
            resp = self.vendor.error(e.status, e.message)
            resp.headers += e.headers
            return resp
        except BadParam as e:
            return self.vendor.error(self.vendor.bad_param_status, e.message if e.param == "cursor" else str(e))
        except Exception:  # an emulator bug: answer like a server would, and say why on stderr
            traceback.print_exc()
            return self.vendor.error(500, "Internal Server Error")


# ---------------------------------------------------------------------------- transport
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    timeout = 300  # idle keep-alive connections give their thread back eventually
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        # One write per response and no Nagle: avoids 40 ms delayed-ACK stalls on keep-alive.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request, True)

    def finish(self) -> None:
        self.server.track(self.request, False)
        with contextlib.suppress(OSError):
            super().finish()

    def _dispatch(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.port}"
        resp, fault = self.server.app.handle(self.command, self.path, self.headers, body, f"http://{host}")
        if fault == "slow":
            time.sleep(self.server.app.control.slow_seconds)
        try:
            with contextlib.ExitStack() as stack:
                source = stack.enter_context(resp.file.open("rb")) if resp.file is not None else None
                length = os.fstat(source.fileno()).st_size if source is not None else len(resp.body)
                head = [
                    f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Error')}",
                    f"Content-Type: {resp.content_type}",
                    f"Content-Length: {length}",
                ]
                head += [f"{k}: {v}" for k, v in resp.headers]
                payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                send = length // 2 if fault == "truncated" else length  # truncated: promise the whole, send half
                if source is None:
                    self.wfile.write(payload + (resp.body if send == length else resp.body[:send]))
                else:
                    self.wfile.write(payload)
                    if send:  # (sendfile refuses a count of 0: an empty bulk file)
                        self.request.sendfile(source, 0, send)
                if fault == "truncated":  # and hang up
                    self.wfile.flush()
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client gave up (timeouts on slow responses)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: VendorApp, port: int = 0, host: str = "127.0.0.1"):
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__((host, port), Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_all(self) -> None:
        """Hang up kept-alive connections so no thread keeps serving after stop()."""
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    @property
    def port(self) -> int:
        return self.server_address[1]
