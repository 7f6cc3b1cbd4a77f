"""The one HTTP behaviour every vendor client shares.

Connect/read timeouts; a client-side throttle at the vendor's published rate so steady state
sees no 429; retries with exponential backoff and jitter on 5xx, timeouts, resets and bodies
that are truncated, invalid JSON or HTML; `Retry-After` honoured on 429 (case-insensitive,
float seconds); a bound on total retry time; immediate failure on 401/403 and other 4xx.
Errors name the connection, never its secret.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

log = logging.getLogger(__name__)


class FatalHTTPError(RuntimeError):
    """Not worth retrying: bad credentials, a rejected request, or retries exhausted."""


class AuthError(FatalHTTPError):
    pass


class TransientError(Exception):
    """A failure that a later identical request may not have."""


@dataclass(frozen=True)
class RateLimit:
    """A leaky bucket: `burst` requests at once, then `per_second` sustained."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_seconds: float = 600.0
    throttle_default_wait: float = 2.0  # a 429 without Retry-After


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 responses received
    transient: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str) -> None:
        self.transient[kind] = self.transient.get(kind, 0) + 1


class Throttle:
    """Client-side leaky bucket, shared by every request made with one credential in this process."""

    def __init__(self, limit: RateLimit):
        self.limit = limit
        self.level = 0.0
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.paced_since: float | None = None  # when the bucket first ran full
        self.paced = 0  # requests granted since then
        self.last_grant = 0.0

    def acquire(self) -> None:
        waited = False
        while True:
            with self.lock:
                now = time.monotonic()
                self.level = max(0.0, self.level - (now - self.stamp) * self.limit.per_second)
                self.stamp = now
                if self.level + 1 <= self.limit.burst:
                    self.level += 1
                    if waited and self.paced_since is None:
                        self.paced_since = now
                    elif self.paced_since is not None:
                        self.paced += 1
                    self.last_grant = now
                    return
                wait = (self.level + 1 - self.limit.burst) / self.limit.per_second
            waited = True
            time.sleep(wait)

    def sustained_rate(self) -> float | None:
        """Requests per second granted while the throttle was pacing (None until it had to)."""
        if self.paced_since is None or self.last_grant <= self.paced_since:
            return None
        return self.paced / (self.last_grant - self.paced_since)


@dataclass
class Response:
    body: Any
    raw: bytes
    headers: requests.structures.CaseInsensitiveDict
    url: str


class VendorSession:
    def __init__(
        self,
        conn_id: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        rate: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] | None = None,
    ):
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "cs-profit-center/0.1"})
        self.session.headers.update(headers or {})
        self.session.auth = auth
        # Resolve proxy and CA settings from the environment once, not on every request (~1 ms each).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False
        self.throttle = Throttle(rate) if rate else None
        self.retry = retry or RetryPolicy()
        # Connect and read timeouts; HTTP_READ_TIMEOUT_S tunes the read side for slow vendors (or tests).
        self.timeout = timeout or (5.0, float(os.environ.get("HTTP_READ_TIMEOUT_S", "30")))
        self.stats = CallStats()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def get(self, path: str, params: dict | None = None) -> Response:
        url = self.url(path)
        started = time.monotonic()
        for attempt in range(1, self.retry.max_tries + 1):
            if self.throttle:
                self.throttle.acquire()
            self.stats.requests += 1
            try:
                return self._once(url, params, attempt)
            except TransientError as exc:
                wait, kind = exc.args[1], exc.args[0]
                self.stats.note(kind)
            if attempt == self.retry.max_tries or time.monotonic() - started + wait > self.retry.max_total_seconds:
                raise FatalHTTPError(
                    f"{self.conn_id}: GET {_path(url)} still failing after {attempt} tries "
                    f"({time.monotonic() - started:.0f} s), last problem: {kind}"
                )
            self.stats.retries += 1
            log.warning("%s: %s on GET %s, retry %d in %.1f s", self.conn_id, kind, _path(url), attempt, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt_hint: int) -> float:
        delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** min(attempt_hint, 10))
        return delay * random.uniform(0.5, 1.0)  # jitter: concurrent clients don't retry in lockstep

    def _once(self, url: str, params: dict | None, n: int) -> Response:
        try:
            r = self.session.get(url, params=params, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(type(exc).__name__, self._backoff(n)) from None
        except requests.RequestException as exc:  # e.g. a body shorter than its Content-Length
            raise TransientError(type(exc).__name__, self._backoff(n)) from None
        if r.status_code == 429:
            self.stats.throttled += 1
            raise TransientError("429 throttled", _retry_after(r) or self.retry.throttle_default_wait)
        if r.status_code in (401, 403):
            raise AuthError(
                f"{self.conn_id}: HTTP {r.status_code} on GET {_path(url)}: the connection's "
                "credentials were refused (check login/password of this Airflow connection)"
            )
        if r.status_code >= 500:
            raise TransientError(f"HTTP {r.status_code}", self._backoff(n))
        if r.status_code >= 400:
            raise FatalHTTPError(f"{self.conn_id}: HTTP {r.status_code} on GET {_path(url)}: {_excerpt(r.text)}")
        ctype = r.headers.get("Content-Type", "")
        if "html" in ctype or r.text.lstrip()[:1] == "<":
            raise TransientError("HTML body with status 200", self._backoff(n))
        try:
            body = orjson.loads(r.content)
        except ValueError:
            raise TransientError("invalid or truncated JSON body", self._backoff(n)) from None
        return Response(body, r.content, r.headers, r.url)


def _retry_after(r: requests.Response) -> float | None:
    value = r.headers.get("Retry-After")  # requests' headers are case-insensitive: Gorgias sends Retry-after
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _path(url: str) -> str:
    """The URL without query string: cursors can be long, and no secret ever travels in a URL here."""
    return url.split("?", 1)[0]


def _excerpt(text: str, limit: int = 300) -> str:
    return text[:limit].replace("\n", " ")
