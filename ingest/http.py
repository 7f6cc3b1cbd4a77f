"""The one HTTP behaviour every vendor client shares.

Connect/read timeouts; a client-side throttle at the vendor's published rate so steady state
sees no 429; retries with exponential backoff and jitter on 5xx, timeouts, resets and bodies
that are truncated, invalid JSON (or UTF-8) or HTML; `Retry-After` honoured on 429 (case-insensitive,
float seconds); a bound on total retry time; immediate failure on 401/403 and other 4xx, and on a
connection refused before the vendor ever answered in this session (a run).
Errors name the connection, never its secret.

Requests go through urllib3 (what `requests` runs on) directly: `requests` cost about twice the CPU
per page (1.8 against 0.8 ms for a 200 KB page, measured) and nothing here needs its extras.
Redirects are not followed: a vendor API that redirects fails loudly rather than sending its
token headers on to another host.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import msgspec
import requests
import urllib3

import settings
from ingest.errors import ExpectedError, PermanentError

log = logging.getLogger(__name__)


class FatalHTTPError(RuntimeError):
    """Not worth retrying: bad credentials, a rejected request, or retries exhausted."""


class AuthError(FatalHTTPError, PermanentError):
    """401/403: the credential was refused; no retry (of the request, nor of the Airflow task) fixes that."""


class Unreachable(FatalHTTPError, ExpectedError):
    """The vendor refused the connection (or its name did not resolve) before it ever answered in this
    session: a host that is down or misnamed, where retrying every request of every endpoint only adds
    minutes. Once the vendor has answered, the same refusal is transient and retried like a reset."""


class MalformedPage(FatalHTTPError):
    """Valid JSON of the wrong shape: not transient, and never silently skipped."""


class ForeignURL(FatalHTTPError):
    """The vendor pointed us at another scheme, host or port (e.g. a Link header's next page)."""


class TransientError(Exception):
    """A failure that a later identical request may not have."""


class TokenRefused(Exception):
    """A 401 on a request signed by a renewable credential: renew it once and try again."""


class Credential(Protocol):
    """Headers that authenticate a request and can be renewed (Shopify's 24-hour tokens): what a vendor whose
    token expires gives its session instead of fixed headers."""

    def headers(self) -> dict[str, str]: ...

    def renew(self) -> bool:
        """A new token now (False: this credential cannot be renewed)."""
        ...


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


ANY_JSON = msgspec.json.Decoder()  # a body as Python objects, whole


@dataclass
class Response:
    body: Any  # as the request's `shape` decoded it
    raw: bytes
    headers: urllib3.HTTPHeaderDict  # case-insensitive
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
        credential: Credential | None = None,
    ):
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "cs-profit-center/0.1",
            **(headers or {}),
        }
        if auth:
            self.headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        self.pool = _pool(self.base_url)
        self.throttle = Throttle(rate) if rate else None
        self.retry = retry or RetryPolicy(max_tries=settings.http_max_tries(RetryPolicy.max_tries))
        connect, read = timeout or (5.0, settings.http_read_timeout_s())
        self.timeout = urllib3.Timeout(connect=connect, read=read)
        self.stats = CallStats()
        self.answered = False  # has the vendor ever answered this session (a run)? see Unreachable
        self.credential = credential

    def url(self, path: str, params: dict | None = None) -> str:
        """A path of the vendor's API, or an absolute URL the vendor sent (a `Link` header's next page): that
        one only on the connection's own origin, since every request carries the connection's credentials."""
        parts = urlsplit(path)
        if parts.scheme or parts.netloc:
            if _origin(path) != _origin(self.base_url):
                scheme, host, port = _origin(path)
                raise ForeignURL(
                    f"{self.conn_id}: the vendor sent a link to another origin ({scheme}://{host}:{port}); "
                    "not followed, so the connection's credentials go only to its own host"
                )
            url = path
        else:
            url = f"{self.base_url}{path}"
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
        return f"{url}{'&' if '?' in url else '?'}{query}" if query else url

    def get(self, path: str, params: dict | None = None, shape: msgspec.json.Decoder = ANY_JSON) -> Response:
        """`shape` decodes the body: every byte is checked to be JSON either way, but only what the shape
        reads becomes Python objects (see Client.page_shape)."""
        return self.request("GET", self.url(path, params), None, shape)

    def post_json(self, path: str, payload: object, shape: msgspec.json.Decoder = ANY_JSON) -> Response:
        """A JSON body POSTed (GraphQL), with the same retries, throttle and credential handling as a GET."""
        return self.request("POST", self.url(path), msgspec.json.encode(payload), shape)

    def request(self, method: str, url: str, body: bytes | None, shape: msgspec.json.Decoder) -> Response:
        started = time.monotonic()
        renewed = False
        for attempt in range(1, self.retry.max_tries + 1):
            if self.throttle:
                self.throttle.acquire()
            self.stats.requests += 1
            try:
                return self._once(method, url, body, attempt, shape)
            except TokenRefused:
                # a token that expired or was revoked since it was issued: one new one, then a refusal is final
                if self.credential is None or renewed or not self.credential.renew():
                    raise self._refused(method, url, 401) from None
                renewed = True
                log.info("%s: token refused on %s %s, renewed once", self.conn_id, method, _path(url))
                continue
            except TransientError as exc:
                wait, kind = exc.args[1], exc.args[0]
                self.stats.note(kind)
            if attempt == self.retry.max_tries or time.monotonic() - started + wait > self.retry.max_total_seconds:
                raise FatalHTTPError(
                    f"{self.conn_id}: {method} {_path(url)} still failing after {attempt} tries "
                    f"({time.monotonic() - started:.0f} s), last problem: {kind}"
                )
            self.stats.retries += 1
            log.warning("%s: %s on %s %s, retry %d in %.1f s", self.conn_id, kind, method, _path(url), attempt, wait)
            time.sleep(wait)
        raise FatalHTTPError(f"{self.conn_id}: {method} {_path(url)}: the token was refused again")

    def _refused(self, method: str, url: str, status: int) -> AuthError:
        return AuthError(
            f"{self.conn_id}: HTTP {status} on {method} {_path(url)}: the connection's "
            "credentials were refused (check login/password of this Airflow connection)"
        )

    def _backoff(self, attempt_hint: int) -> float:
        delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** min(attempt_hint, 10))
        return delay * random.uniform(0.5, 1.0)  # jitter: concurrent clients don't retry in lockstep

    def _once(self, method: str, url: str, body: bytes | None, n: int, shape: msgspec.json.Decoder) -> Response:
        headers = self.headers if self.credential is None else {**self.headers, **self.credential.headers()}
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            r = self.pool.urlopen(
                method, url, body=body, headers=headers, timeout=self.timeout, retries=False, redirect=False
            )  # the whole body is read here: a body shorter than its Content-Length raises too
        except urllib3.exceptions.NewConnectionError as exc:  # refused, unresolvable, unreachable network
            if not self.answered:
                reason = str(exc).rsplit(": ", 1)[-1]  # "[Errno 111] Connection refused"; the URL holds no secret
                raise Unreachable(
                    f"{self.conn_id}: {method} {_path(url)}: cannot connect ({reason}) on the first request of this "
                    "run; nothing retried (check the connection's host and port, or the vendor's status)"
                ) from None
            raise TransientError(type(exc).__name__, self._backoff(n)) from None
        except urllib3.exceptions.HTTPError as exc:  # timeouts, reset connections, truncated bodies
            raise TransientError(type(exc).__name__, self._backoff(n)) from None
        self.answered = True
        raw = r.data
        if r.status == 429:
            self.stats.throttled += 1
            raise TransientError("429 throttled", _retry_after(r.headers) or self.retry.throttle_default_wait)
        if r.status == 401 and self.credential is not None:
            raise TokenRefused()
        if r.status in (401, 403):
            raise self._refused(method, url, r.status)
        if r.status >= 500:
            raise TransientError(f"HTTP {r.status}", self._backoff(n))
        if r.status >= 300:
            raise FatalHTTPError(f"{self.conn_id}: HTTP {r.status} on {method} {_path(url)}: {_excerpt(raw)}")
        if "html" in r.headers.get("Content-Type", "") or raw.lstrip()[:1] == b"<":
            raise TransientError("HTML body with status 200", self._backoff(n))
        try:
            raw.decode()  # the shape skips what it does not read without checking its UTF-8; landing relies on it
            body = shape.decode(raw)
        except msgspec.ValidationError as exc:  # before DecodeError, its base class
            raise MalformedPage(
                f"{self.conn_id}: {method} {_path(url)} returned JSON of another shape: {exc}"
            ) from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise TransientError("invalid or truncated JSON body", self._backoff(n)) from None
        return Response(body, raw, r.headers, url)


def _pool(base_url: str) -> urllib3.PoolManager:
    """Proxy (from the environment, like `requests`) and CA bundle are resolved once, not on every request."""
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or requests.certs.where()
    proxy = requests.utils.select_proxy(base_url, requests.utils.get_environ_proxies(base_url))
    if proxy:
        return urllib3.ProxyManager(proxy, cert_reqs="CERT_REQUIRED", ca_certs=ca)
    return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca)


def _retry_after(headers: urllib3.HTTPHeaderDict) -> float | None:
    value = headers.get("Retry-After")  # the headers are case-insensitive: Gorgias sends Retry-after
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what must match to send credentials."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: an origin that matches nothing
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _path(url: str) -> str:
    """The URL without query string: cursors can be long, and no secret ever travels in a URL here."""
    return url.split("?", 1)[0]


def _excerpt(raw: bytes, limit: int = 300) -> str:
    return raw[:limit].decode("utf-8", "replace").replace("\n", " ")
