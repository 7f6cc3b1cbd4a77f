"""The sandbox's Shopify as a 2026 store (vendor-apis.md §3a), over real HTTP: the client credentials grant and
its 24-hour tokens, graphql.json with cost extensions and errors as HTTP 200, and the one-bulk-query-at-a-time
limit of versions before 2026-01."""

from __future__ import annotations

import json

import pytest
import requests

from sandbox.emulators.server import Sandbox
from sandbox.emulators.shopify_graphql import client_token

RUN = 'mutation { bulkOperationRunQuery(query: "{ orders { edges { node { id } } } }") { bulkOperation { id } } }'


@pytest.fixture
def shop(tiny):
    with Sandbox(tiny, rate_limits=True) as box:
        yield box, json.loads(box.connections()["shopify_default"])


def graphql(conn: dict, token: str, query: str, version: str = "2026-10") -> requests.Response:
    url = f"{conn['host']}/admin/api/{version}/graphql.json"
    return requests.post(url, json={"query": query}, headers={"X-Shopify-Access-Token": token}, timeout=10)


def test_a_granted_token_lasts_24_hours_of_the_sandbox_clock(shop):
    box, conn = shop
    r = requests.post(
        f"{conn['host']}/admin/oauth/access_token",
        data={"grant_type": "client_credentials", "client_id": conn["login"], "client_secret": conn["password"]},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 86399
    assert set(r.json()["scope"].split(",")) == {"read_orders", "read_all_orders", "read_customers"}
    token = r.json()["access_token"]
    assert graphql(conn, token, "{ shop { name } }").status_code == 200
    box.advance(86_000)
    assert graphql(conn, token, "{ shop { name } }").status_code == 200
    box.advance(400)
    assert graphql(conn, token, "{ shop { name } }").status_code == 401
    wrong = {"grant_type": "client_credentials", "client_id": conn["login"], "client_secret": "shpss_wrong"}
    assert requests.post(f"{conn['host']}/admin/oauth/access_token", data=wrong, timeout=10).status_code == 401


def test_graphql_answers_carry_their_cost_and_throttle_as_http_200(shop):
    box, conn = shop
    token = client_token(conn["host"], conn["login"], conn["password"])
    body = graphql(conn, token, "{ shop { name } }").json()
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == 2000 and status["restoreRate"] == 100
    box.vendors["shopify"].admin.points = 0  # an empty bucket
    r = graphql(conn, token, "{ shop { name } }")
    assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_before_2026_01_only_one_bulk_query_runs_at_a_time(shop):
    _, conn = shop
    token = client_token(conn["host"], conn["login"], conn["password"])
    first = graphql(conn, token, RUN, "2025-10").json()["data"]["bulkOperationRunQuery"]
    assert first["userErrors"] == [] and first["bulkOperation"]["id"]
    second = graphql(conn, token, RUN, "2025-10").json()["data"]["bulkOperationRunQuery"]
    assert second["bulkOperation"] is None and second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    third = graphql(conn, token, RUN, "2026-10").json()["data"]["bulkOperationRunQuery"]
    assert third["userErrors"] == []  # up to 5 from 2026-01
