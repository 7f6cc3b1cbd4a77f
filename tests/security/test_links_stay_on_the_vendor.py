"""Shopify pages by `Link: <url>; rel="next"`. Every request carries X-Shopify-Access-Token, so a next link to
another origin (scheme, host or port) must not be followed: the other server gets no request at all."""

from __future__ import annotations

import json

import pytest

from ingest.connections import Connection
from ingest.http import ForeignURL
from ingest.shopify import ShopifyClient
from tests.ingest.scripted_server import Scripted

TOKEN = "shpat-s3cr3t-token"


def page(n: int, next_url: str | None) -> dict:
    headers = {"Content-Type": "application/json"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return {"status": 200, "body": json.dumps({"orders": [{"id": n, "updated_at": "2026-03-01T00:00:00Z"}]}),
            "headers": headers}  # fmt: skip


def client_for(server: Scripted) -> ShopifyClient:
    return ShopifyClient(Connection("shopify_default", server.url, password=TOKEN, extra={"rate_limit_per_second": 0}))


def orders_endpoint():
    return next(ep for ep in ShopifyClient.endpoints if ep.entity == "orders")


@pytest.fixture
def servers():
    started = []

    def start(*steps: dict) -> Scripted:
        s = Scripted(list(steps))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.mark.parametrize(
    "elsewhere",
    [
        lambda other, own: f"{other.url}/admin/api/2024-01/orders.json?page_info=2",  # another port
        lambda other, own: own.url.replace("127.0.0.1", "localhost") + "/admin/api/2024-01/orders.json",  # host
        lambda other, own: own.url.replace("http://", "https://") + "/admin/api/2024-01/orders.json",  # scheme
        lambda other, own: f"http://evil@{other.url.removeprefix('http://')}/orders.json",  # userinfo trick
    ],
    ids=["port", "host", "scheme", "userinfo"],
)
def test_a_next_link_to_another_origin_is_an_error_and_gets_no_request(servers, elsewhere):
    other = servers(page(99, None))
    own = servers(page(1, "placeholder"))
    link = elsewhere(other, own)
    own.script = [page(1, link), page(2, None)]
    client = client_for(own)
    with pytest.raises(ForeignURL) as err:
        list(client.pages(orders_endpoint(), None, None))
    message = str(err.value)
    assert message.startswith("shopify_default: the vendor sent a link to another origin (")
    assert "not followed, so the connection's credentials go only to its own host" in message
    assert TOKEN not in message
    assert other.seen == []  # the token never left
    assert len(own.seen) == 1  # and the link was not tried on the own host either


def test_a_next_link_on_the_same_origin_is_followed(servers):
    own = servers(page(1, None))
    own.script = [page(1, f"{own.url}/admin/api/2024-01/orders.json?page_info=2"), page(2, None)]
    pages = list(client_for(own).pages(orders_endpoint(), None, None))
    assert len(pages) == 2
    assert own.seen[1]["path"] == "/admin/api/2024-01/orders.json?page_info=2"
    assert own.seen[1]["headers"]["X-Shopify-Access-Token"] == TOKEN
