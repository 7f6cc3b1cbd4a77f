"""Shopify's client credentials grant against the sandbox's store (vendor-apis.md §3a): 24-hour tokens
renewed when refused, a revoked secret or a missing scope failing at once by name, and no secret or token
in any log line."""

from __future__ import annotations

import json
import logging
import time

import pytest

from ingest.connections import get_connection
from ingest.extract import extract_vendor
from ingest.http import AuthError
from ingest.shopify import ShopifyClient
from ingest.shopify.auth import MissingScope
from sandbox.emulators.server import Sandbox
from tests.ingest.sandbox_truth import visible

CONN = "AIRFLOW_CONN_SHOPIFY_DEFAULT"


@pytest.fixture
def shop(tiny, data_dir, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with Sandbox(tiny, faults="none", rate_limits=False) as box:
        monkeypatch.setenv(CONN, box.connections()["shopify_default"])
        yield box
        admin = box.vendors["shopify"].admin
        # whatever the test did: neither the secret nor any token it was given is in a log line
        for secret in [admin.client_secret, json.loads(box.connections()["shopify_default"])["password"]]:
            assert secret not in caplog.text
        for token in admin.tokens:
            assert token not in caplog.text


def test_a_token_that_expires_mid_run_is_renewed_once_and_the_run_reads_everything(shop, tiny):
    admin = shop.vendors["shopify"].admin
    admin.bulk_faults.append("token_expires")  # every token ends once the operation has started: 24 hours later
    client = ShopifyClient(get_connection("shopify_default"))
    orders = next(ep for ep in client.endpoints if ep.entity == "orders")
    ids = {json.loads(bytes(r))["legacyResourceId"] for page in client.pages(orders, None, None) for r in page.records}
    assert ids == visible(tiny, "shopify_orders", shop.clock_us).keys()
    assert client.session.credential.grants == 2 == admin.grants  # the first token, and one renewal
    assert shop.stats()["shopify"]["statuses"]["401"] == 1


def test_a_revoked_client_secret_fails_at_once_naming_the_connection(shop):
    shop.vendors["shopify"].admin.revoke_secret()
    started = time.monotonic()
    with pytest.raises(AuthError) as err:
        extract_vendor("shopify")
    assert time.monotonic() - started < 5
    assert "shopify_default" in str(err.value) and "client credentials grant was refused" in str(err.value)
    assert shop.stats()["shopify"]["requests"] == 1  # the grant, once: nothing retried


def test_a_missing_read_all_orders_scope_fails_naming_the_scope(shop):
    """Without read_all_orders the store silently hides orders older than 60 days: never extract like that."""
    shop.vendors["shopify"].admin.scopes = ("read_orders", "read_customers")
    with pytest.raises(MissingScope) as err:
        extract_vendor("shopify")
    assert "shopify_default" in str(err.value) and "'read_all_orders'" in str(err.value)
    assert shop.stats()["shopify"]["paths"] == {"/admin/oauth/access_token": 1}  # no data request made


def test_a_legacy_static_token_still_works(shop, tiny, monkeypatch):
    conn = json.loads(shop.connections()["shopify_default"])
    extra = {**conn["extra"], "access_token": shop.vendors["shopify"].token}  # a legacy custom app's token
    conn = {**conn, "login": "", "password": "", "extra": extra}
    monkeypatch.setenv(CONN, json.dumps(conn))
    client = ShopifyClient(get_connection("shopify_default"))
    customers = next(ep for ep in client.endpoints if ep.entity == "customers")
    n = sum(len(p.records) for p in client.pages(customers, None, None))
    assert n == len(visible(tiny, "shopify_customers", shop.clock_us))
    assert "/admin/oauth/access_token" not in shop.stats()["shopify"]["paths"]


def test_a_token_is_renewed_before_it_expires_without_a_refusal(shop):
    """Ten minutes before its 24 hours end the token is replaced unprompted: no request is refused for it."""
    client = ShopifyClient(get_connection("shopify_default"))
    customers = next(ep for ep in client.endpoints if ep.entity == "customers")
    credential = client.session.credential
    client.graphql.query("{ shop { name } }")  # the first token
    credential._renew_at = time.monotonic()  # ... has reached its renewal time
    assert sum(len(p.records) for p in client.pages(customers, None, None)) > 0
    assert credential.grants == 2 and "401" not in shop.stats()["shopify"]["statuses"]
