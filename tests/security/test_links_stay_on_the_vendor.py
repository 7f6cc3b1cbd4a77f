"""Every Shopify request carries X-Shopify-Access-Token, so a URL the vendor sends on another origin (scheme,
host or port) is never requested with it: the session refuses such a link outright, and the bulk operation's
JSONL, which Shopify serves from its storage host by a signed URL, is downloaded without the token."""

from __future__ import annotations

import json

import pytest

from ingest.connections import Connection
from ingest.http import ForeignURL
from ingest.shopify import ShopifyClient
from tests.ingest.scripted_server import Scripted

TOKEN = "shpat-s3cr3t-token"


def answer(data: dict) -> dict:
    return {"status": 200, "body": json.dumps({"data": data}), "headers": {"Content-Type": "application/json"}}


def client_for(server: Scripted) -> ShopifyClient:
    return ShopifyClient(Connection("shopify_default", server.url, password=TOKEN, extra={"rate_limit_per_second": 0}))


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
        lambda other, own: f"{other.url}/admin/api/2026-10/graphql.json",  # another port
        lambda other, own: own.url.replace("127.0.0.1", "localhost") + "/admin/api/2026-10/graphql.json",  # host
        lambda other, own: own.url.replace("http://", "https://") + "/admin/api/2026-10/graphql.json",  # scheme
        lambda other, own: f"http://evil@{other.url.removeprefix('http://')}/graphql.json",  # userinfo trick
    ],
    ids=["port", "host", "scheme", "userinfo"],
)
def test_a_link_to_another_origin_is_an_error_and_gets_no_request(servers, elsewhere):
    other = servers(answer({}))
    own = servers(answer({}))
    session = client_for(own).session
    with pytest.raises(ForeignURL) as err:
        session.get(elsewhere(other, own))
    message = str(err.value)
    assert message.startswith("shopify_default: the vendor sent a link to another origin (")
    assert "not followed, so the connection's credentials go only to its own host" in message
    assert TOKEN not in message
    assert other.seen == [] and own.seen == []  # the token never left, and nothing was tried on the own host


def test_a_link_on_the_same_origin_is_followed_with_the_token(servers):
    own = servers(answer({"shop": {"name": "x"}}))
    client_for(own).session.get(f"{own.url}/admin/api/2026-10/shop.json?page_info=2")
    assert own.seen[0]["path"] == "/admin/api/2026-10/shop.json?page_info=2"
    assert own.seen[0]["headers"]["X-Shopify-Access-Token"] == TOKEN


def test_the_bulk_file_on_its_storage_host_is_downloaded_without_the_token(servers, data_dir):
    customer = {"id": "gid://shopify/Customer/7", "legacyResourceId": "7", "createdAt": "2026-03-01T00:00:00Z",
                "updatedAt": "2026-03-01T00:00:00Z"}  # fmt: skip
    storage = servers({"status": 200, "body": json.dumps(customer) + "\n", "headers": {"Content-Type": "text/plain"}})
    op = {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"}
    done = {**op, "status": "COMPLETED", "url": f"{storage.url}/bulk/7.jsonl?X-Goog-Signature=abc"}
    own = servers(
        answer({"bulkOperationRunQuery": {"bulkOperation": op, "userErrors": []}}), answer({"bulkOperation": done})
    )
    client = client_for(own)
    customers = next(ep for ep in client.endpoints if ep.entity == "customers")
    records = [json.loads(bytes(r)) for page in client.pages(customers, None, None) for r in page.records]
    assert [r["legacyResourceId"] for r in records] == ["7"]
    assert len(storage.seen) == 1 and TOKEN not in json.dumps(storage.seen)
    assert [s["headers"]["X-Shopify-Access-Token"] for s in own.seen] == [TOKEN, TOKEN]
