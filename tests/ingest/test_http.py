"""The shared HTTP behaviour: what is retried, how long it waits, what fails at once."""

from __future__ import annotations

import socket
import time

import pytest

from ingest.http import AuthError, FatalHTTPError, RateLimit, RetryPolicy, Throttle, Unreachable, VendorSession
from tests.ingest.scripted_server import Scripted

OK = {"status": 200, "body": '{"data": [1, 2]}'}
FAST = RetryPolicy(max_tries=5, base_delay=0.01, max_delay=0.05, throttle_default_wait=0.05)


@pytest.fixture
def serve():
    servers = []

    def start(*steps: dict) -> tuple[Scripted, VendorSession]:
        s = Scripted(list(steps))
        servers.append(s)
        return s, VendorSession("acme_default", s.url, auth=("me", "s3cr3t-key"), retry=FAST, timeout=(1, 0.5))

    yield start
    for s in servers:
        s.close()


def test_5xx_then_success_is_retried(serve):
    _server, http = serve({"status": 503}, {"status": 502}, {"status": 500}, OK)
    assert http.get("/x").body == {"data": [1, 2]}
    assert (http.stats.requests, http.stats.retries) == (4, 3)


@pytest.mark.parametrize(
    "bad",
    [
        {"status": 200, "body": "<html><body>Gateway</body></html>", "headers": {"Content-Type": "text/html"}},
        {"status": 200, "body": '{"data": [1, 2, 3, 4, 5, 6, 7, 8]}', "truncate": True},
        {"status": 200, "body": '{"data": [1, 2'},
        {"status": 200, "body": b'{"data": [1, 2], "note": "caf\xe9"}'},  # Latin-1, not UTF-8
        {"status": 200, "body": '{"data": []}', "sleep": 0.8},  # past the 0.5 s read timeout
    ],
    ids=["html", "truncated", "invalid-json", "invalid-utf8", "timeout"],
)
def test_broken_200s_and_timeouts_are_transient(serve, bad):
    _server, http = serve(bad, OK)
    assert http.get("/x").body == {"data": [1, 2]}
    assert http.stats.retries == 1


def test_a_page_shape_splits_the_records_as_sent_and_still_checks_every_byte(serve):
    """A page's records come out as their exact bytes (whitespace and number forms as sent), ready to land; a
    broken record is a broken body, retried; a body without the endpoint's list fails at once. Paging reads a
    record's key and order field; a record that is not an object stays as it is, for landing to quarantine."""
    from ingest.client import PageItem, item_shape, page_shape
    from ingest.http import MalformedPage

    shape = page_shape("data", ("meta",))
    page = '{"data": [{"uid": 7, "updated": "2026-01-01", "x": {"deep": [1.50]}}, {"x": 1}, "oops"], "meta": {"n": 2}}'
    broken = '{"data": [{"uid": 7, "x": {"deep": [1}}], "meta": {}}'
    _server, http = serve({"status": 200, "body": broken}, {"status": 200, "body": page})
    body = http.get("/tickets", shape=shape).body
    assert [bytes(r) for r in body.items] == [
        b'{"uid": 7, "updated": "2026-01-01", "x": {"deep": [1.50]}}',
        b'{"x": 1}',
        b'"oops"',
    ]
    assert body.meta == {"n": 2}
    assert http.stats.retries == 1  # the broken record, which no field the shape reads is in

    first, second, third = (item_shape("uid", "updated").decode(r) for r in body.items)
    assert isinstance(first, PageItem) and (first.key, first.order) == (7, "2026-01-01")
    assert isinstance(second, PageItem) and (second.key, second.order) == (None, None)
    assert third == "oops"

    _server, http = serve({"status": 200, "body": '{"tickets": []}'}, OK)
    with pytest.raises(MalformedPage, match=r"acme_default: GET \S*/tickets returned JSON of another shape: .* `data`"):
        http.get("/tickets", shape=shape)
    assert http.stats.requests == 1


def test_429_waits_for_retry_after_whatever_its_casing(serve):
    _server, http = serve({"status": 429, "headers": {"Retry-after": "0.3"}}, OK)
    started = time.monotonic()
    http.get("/x")
    assert time.monotonic() - started >= 0.3
    assert http.stats.throttled == 1


def test_429_without_retry_after_backs_off_by_default(serve):
    server, http = serve({"status": 429}, OK)
    http.get("/x")
    assert server.seen[1]["at"] - server.seen[0]["at"] >= FAST.throttle_default_wait


def test_401_fails_at_once_naming_the_connection_not_the_secret(serve):
    server, http = serve({"status": 401, "body": '{"error": "bad key"}'})
    with pytest.raises(AuthError) as err:
        http.get("/x")
    assert "acme_default" in str(err.value) and "s3cr3t-key" not in str(err.value)
    assert len(server.seen) == 1


def test_other_4xx_is_fatal_without_retry(serve):
    server, http = serve({"status": 422, "body": '{"errors": "cursor with filters"}'})
    with pytest.raises(FatalHTTPError, match="422"):
        http.get("/x")
    assert len(server.seen) == 1


def test_redirect_fails_at_once_and_is_not_followed(serve):
    server, http = serve({"status": 302, "headers": {"Location": "http://127.0.0.1:9/elsewhere"}})
    with pytest.raises(FatalHTTPError, match="302"):
        http.get("/x")
    assert len(server.seen) == 1


def test_retries_are_bounded(serve):
    server, http = serve({"status": 503})
    with pytest.raises(FatalHTTPError, match="still failing after 5 tries"):
        http.get("/x")
    assert len(server.seen) == 5


def test_throttle_holds_the_sustained_rate():
    throttle = Throttle(RateLimit(per_second=20, burst=5))
    started = time.monotonic()
    for _ in range(25):
        throttle.acquire()
    # 5 at once, then 20 more at 20/s: at least ~1 s
    assert time.monotonic() - started >= 0.95


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "host, reason",
    [("127.0.0.1:{port}", "Connection refused"), ("vendor.invalid", "Failed to resolve 'vendor.invalid'")],
    ids=["refused", "unresolvable"],
)
def test_a_refused_first_connection_fails_at_once_without_retries(host, reason, monkeypatch):
    """Before: 8 tries with backoff (about a minute per request, ~7 minutes per try of a Gorgias extract)."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):  # a proxy would answer for the host
        monkeypatch.delenv(name, raising=False)
    base = f"http://{host.format(port=closed_port())}"
    http = VendorSession("acme_default", base, auth=("me", "s3cr3t-key"))
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        http.get("/x")
    assert time.monotonic() - started < 5
    assert (http.stats.requests, http.stats.retries) == (1, 0)
    assert str(err.value).startswith(f"acme_default: GET {base}/x: cannot connect (")
    assert reason in str(err.value) and "s3cr3t-key" not in str(err.value)


def test_a_refusal_after_the_vendor_has_answered_is_retried_as_transient(serve):
    server, http = serve({**OK, "headers": {"Content-Type": "application/json", "Connection": "close"}})
    http.get("/x")
    server.close()  # the vendor goes away mid-run (a restart, a deploy): new connections are refused
    with pytest.raises(FatalHTTPError, match="still failing after 5 tries") as err:
        http.get("/y")
    assert not isinstance(err.value, Unreachable)
    assert http.stats.retries == 4
